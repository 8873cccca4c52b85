"""Builders for notifications and decisions, and a helper to drive a case in tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from temporalio.client import Client, WorkflowHandle

from domain.case import CaseState
from domain.decisions import Actor, Decision, StepRecord
from domain.notification import Notification
from domain.procedure import CURRENT_PROCEDURE, CURRENT_REQUEST_PROCEDURE, Clock
from domain.request import ReviewRequest
from workflows.review_request import RequestInput, ReviewRequestWorkflow
from workflows.serious_incident import CaseInput, SeriousIncidentWorkflow

CHILD_REFERENCE = "CHILD-REF-ZX81-7731"
_RECORD = TypeAdapter[StepRecord](StepRecord)


def notification(received_at: datetime, **overrides: Any) -> Notification:
    body: dict[str, Any] = {
        "received_at": received_at,
        "notifying_agency": "Humberside Police",
        "incident": {
            "date": (received_at - timedelta(days=1)).date(),
            "harm": "serious_harm",
            "abuse_or_neglect": "suspected",
            "summary": "Admitted to hospital with unexplained injuries.",
        },
        "children": [{"reference": CHILD_REFERENCE, "date_of_birth": date(2019, 3, 4),
                      "looked_after": False}],
    }
    body.update(overrides)
    return Notification.model_validate(body)


def record(step: str, **fields: Any) -> StepRecord:
    return _RECORD.validate_python({"step": step, **fields})


def decision(step: str, actor: Actor | None = None, **fields: Any) -> Decision:
    return Decision(record=record(step, **fields), actor=actor)


async def start_case(
    client: Client, task_queue: str, case_id: str, received_at: datetime,
    actor: Actor | None = None, **overrides: Any,
) -> WorkflowHandle[SeriousIncidentWorkflow, Any]:
    """Start a case as the API does; `actor` is the notifier, `overrides` the notification's."""
    return await client.start_workflow(
        SeriousIncidentWorkflow.run,
        CaseInput(case_id=case_id, procedure_version=CURRENT_PROCEDURE.version,
                  notification=notification(received_at, **overrides), actor=actor),
        id=case_id,
        task_queue=task_queue,
    )


def review_request(received_at: datetime, **overrides: Any) -> ReviewRequest:
    """A request for a CSPR (Flowchart 4), after discussion with the SSLs."""
    body: dict[str, Any] = {
        "received_at": received_at,
        "requesting_agency": "North Lincolnshire Council",
        "category": "near_miss",
        "summary": "A referral was nearly closed without a home visit.",
        "discussed_with_ssl": True,
        "children": [{"reference": CHILD_REFERENCE, "date_of_birth": date(2019, 3, 4)}],
    }
    body.update(overrides)
    return ReviewRequest.model_validate(body)


async def start_request(
    client: Client, task_queue: str, case_id: str, received_at: datetime,
    actor: Actor | None = None, **overrides: Any,
) -> WorkflowHandle[ReviewRequestWorkflow, Any]:
    """Start a request as the API does; `overrides` are the request's."""
    return await client.start_workflow(
        ReviewRequestWorkflow.run,
        RequestInput(case_id=case_id, procedure_version=CURRENT_REQUEST_PROCEDURE.version,
                     request=review_request(received_at, **overrides), actor=actor),
        id=case_id,
        task_queue=task_queue,
    )


async def signal(handle: WorkflowHandle[Any, Any], step: str, **fields: Any) -> None:
    await handle.signal("record", decision(step, **fields))


def clocks_started(case: CaseState) -> bool:
    """Every clock the case's steps count from has started, so all its due dates are set: the
    receipt's first, then (procedure r4) the local authority's awareness, after an activity of
    its own; a query between the two sees the Panel notification still undated."""
    return Clock.RECEIVED in case.clock_dates and (
        not case.steps_on_clock(Clock.LA_AWARE) or Clock.LA_AWARE in case.clock_dates)


async def case_when(
    handle: WorkflowHandle[Any, Any],
    ready: Callable[[CaseState], bool],
    within: float = 30.0,
) -> CaseState:
    """Query the case until `ready` holds (a signal is applied asynchronously)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        case = await handle.query(SeriousIncidentWorkflow.case)  # either kind of case
        if ready(case):
            return case
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"case never became ready; stage={case.stage}")
        await asyncio.sleep(0.05)

"""A case's other processes (Appendix 3) as Updates of the case workflow, on the time-skipping
server: recorded, refused before they enter history, shown by the query, and audited.

The same Updates run on the dev server through the API in tests/test_parallel_api.py (Updates
are reported unreliable on the Java time-skipping server: both are kept)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.case import CaseState, Channel, EventKind
from domain.decisions import Actor, DecisionMessage
from domain.parallel import Arrangement, ProcessKind, ProcessStatus
from store.db import Sessionmaker
from tests.conftest import new_worker
from tests.factories import case_when, start_case, start_request
from workflows.serious_incident import SeriousIncidentWorkflow

MARS = Actor(subject="mars@cspr.test", role="mars_team")
SSL = Actor(subject="ssl@cspr.test", role="ssl", organisation="police")


def message(actor: Actor, **record: Any) -> DecisionMessage:
    return DecisionMessage(record=record, actor=actor.model_dump())


async def update(handle: WorkflowHandle[Any, Any], name: str, msg: DecisionMessage) -> CaseState:
    result: CaseState = await handle.execute_update(name, msg, result_type=CaseState)
    return result


async def refused(handle: WorkflowHandle[Any, Any], name: str, msg: DecisionMessage
                  ) -> dict[str, Any]:
    with pytest.raises(WorkflowUpdateFailedError) as e:
        await update(handle, name, msg)
    cause = e.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidRecord"
    details: dict[str, Any] = cause.details[0]
    return details


async def accepted_updates(handle: WorkflowHandle[Any, Any], name: str) -> int:
    history = await handle.fetch_history()
    return sum(1 for e in history.events
               if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
               and e.workflow_execution_update_accepted_event_attributes.accepted_request
               .input.name == name)


async def test_facts_and_processes_recorded_refused_and_queried(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    async with new_worker(time_env.client, sessions) as worker:
        now = await time_env.get_current_time()
        today = now.date()
        handle = await start_case(time_env.client, worker.task_queue,
                                  f"CSPR-2026-{uuid.uuid4().hex[:8].upper()}", now)
        await case_when(handle, lambda c: bool(c.clock_dates))
        await handle.execute_update("opened", result_type=CaseState)

        case = await update(handle, "record_facts", message(
            SSL, yjs_on_caseload=True, child_charged_with="gbh_or_wounding",
            child_charged_on=str(today - timedelta(days=1)), criminal_investigation=True))
        assert case.parallel.facts.criminal_investigation is True
        assert case.parallel.facts_recorded_at is not None

        case = await update(handle, "record_parallel_process", message(
            MARS, kind="criminal_investigation", lead="Humberside Police",
            liaison_agreed=True, liaison="Weekly call with the senior investigating officer",
            arrangement="parallel", started_on=str(today - timedelta(days=2))))
        case = await update(handle, "record_parallel_process", message(
            MARS, kind="criminal_investigation", lead="Humberside Police",
            arrangement="parallel", status="ended", started_on=str(today - timedelta(days=2)),
            ended_on=str(today)))

        # Refused in the validator, naming the field: never in history, nothing changed.
        assert await refused(handle, "record_facts", message(
            MARS, child_died_on=str(today + timedelta(days=3)))) == {
            "field": "child_died_on", "reason": "is in the future"}
        assert (await refused(handle, "record_parallel_process", message(
            MARS, kind="prevent", lead="Prevent lead", arrangement="joint")))["field"] == (
            "arrangement")
        assert (await refused(handle, "record_facts", message(
            MARS, mappa_level="high")))["field"] == "mappa_level"

        case = await handle.query(SeriousIncidentWorkflow.case)
        (process,) = case.parallel.processes
        assert (process.kind, process.status, process.arrangement) == (
            ProcessKind.CRIMINAL_INVESTIGATION, ProcessStatus.ENDED, Arrangement.PARALLEL)
        assert case.parallel.facts.child_charged_with == "gbh_or_wounding"
        events = [(e.kind, e.detail, e.channel, e.actor) for e in case.events
                  if e.kind in (EventKind.PARALLEL_FACTS, EventKind.PARALLEL_PROCESS)]
        assert events == [
            (EventKind.PARALLEL_FACTS, "facts recorded", Channel.API, SSL),
            (EventKind.PARALLEL_PROCESS, "criminal_investigation recorded: parallel, open",
             Channel.API, MARS),
            (EventKind.PARALLEL_PROCESS, "criminal_investigation updated: parallel, ended",
             Channel.API, MARS),
        ]
        assert "Humberside" not in str([e.detail for e in case.events])
        assert await accepted_updates(handle, "record_facts") == 1
        assert await accepted_updates(handle, "record_parallel_process") == 2
        await handle.terminate("test over")


async def test_a_request_records_its_other_processes_too(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    async with new_worker(time_env.client, sessions) as worker:
        now = await time_env.get_current_time()
        handle = await start_request(time_env.client, worker.task_queue,
                                     f"CSPR-2026-{uuid.uuid4().hex[:8].upper()}", now)
        await case_when(handle, lambda c: bool(c.clock_dates))
        await handle.execute_update("opened", result_type=CaseState)
        case = await update(handle, "record_parallel_process", message(
            MARS, kind="family_court_cafcass", lead="Cafcass"))
        assert case.parallel.process(ProcessKind.FAMILY_COURT_CAFCASS) is not None
        await handle.terminate("test over")

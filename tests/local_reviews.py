"""Builders and helpers for the LCSPR's tests and its history recorder."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from activities.case_events import record_case_event
from activities.case_store import CaseStoreActivities
from domain.calendar import WorkingDayCalendar
from domain.decisions import Actor, DecisionMessage
from domain.local_review import LocalReviewState
from domain.local_review_records import EQUALITY_FIELDS
from domain.procedure import CURRENT_PROCEDURE
from domain.reviews import ReviewKind
from store.db import Sessionmaker
from store.models import Case
from worker import WORKFLOW_RUNNER
from workflows.ids import local_review_id
from workflows.local_review import LocalReviewRun, LocalReviewWorkflow

Handle = WorkflowHandle[LocalReviewWorkflow, Any]
Send = Callable[..., Awaitable[None]]
PARTNERS = ("local_authority", "health", "police")
TERMS: dict[str, Any] = {
    "methodology": "Local systems methodology", "scope": "Six months before the incident",
    "independent_challenge": "Independent chair", "views_captured": "Family and practitioners",
    "race_racism_bias": "Adultification and cultural assumptions", "independent_author": True,
}
REVIEWER: dict[str, Any] = {"reviewer_name": "A. Reviewer", "conflicts_of_interest": "None",
                            "no_direct_involvement": True}
REPORT: dict[str, Any] = {
    "improvements_summary": ["Confirm referrals in writing", "Joint bruising protocol"],
    "systemic_analysis": "Pathways differ between agencies",
    "equality_analysis": dict.fromkeys(EQUALITY_FIELDS, "Considered"),
}


def review_case_id() -> str:
    return f"CSPR-2027-{uuid.uuid4().hex[:8].upper()}"


def dsp(partner: str) -> Actor:
    return Actor(subject=f"dsp-{partner}@cspr.test", role="dsp", organisation=partner)


def message(step: str, actor: Actor | None = None, **fields: Any) -> DecisionMessage:
    return DecisionMessage(record={"step": step, **fields},
                           actor=actor.model_dump() if actor else None)


def review_worker(client: Client, sessions: Sessionmaker, action_plan: type) -> Worker:
    """A worker of its own running the LCSPR and the given ActionPlan workflow (a stand-in,
    or the real one), with the real calendar and case store activities."""
    calendar = CalendarActivities(WorkingDayCalendar(), sessions)
    store = CaseStoreActivities(sessions)
    return Worker(client, task_queue=f"tq-{uuid.uuid4()}",
                  workflows=[LocalReviewWorkflow, action_plan], workflow_runner=WORKFLOW_RUNNER,
                  activities=[calendar.compute_clocks_due_dates,
                              calendar.compute_dates, calendar.compute_due_dates,
                              record_case_event, store.project_part])


async def store_case(sessions: Sessionmaker, case_id: str, received_at: datetime) -> None:
    """The parent case's row, which the review's part of the case store belongs to."""
    async with sessions.begin() as s:
        s.add(Case(case_id=case_id, kind="serious_incident", stage="local_review",
                   procedure_version=CURRENT_PROCEDURE.version, overdue=False,
                   received_at=received_at, incident_date=received_at.date(),
                   possible_duplicate_of=[], version=1, snapshot={},
                   updated_at=datetime.now(UTC)))


async def start_review(client: Client, task_queue: str, case_id: str, decided_on: date | None,
                       kind: ReviewKind = ReviewKind.SERIOUS_INCIDENT, **fields: Any) -> Handle:
    return await client.start_workflow(
        LocalReviewWorkflow.run,
        LocalReviewRun(case_id=case_id, kind=kind, decided_on=decided_on,
                       procedure_version=CURRENT_PROCEDURE.version, **fields),
        id=local_review_id(case_id), task_queue=task_queue)


async def review_when(handle: Handle, ready: Callable[[LocalReviewState], bool],
                      within: float = 30.0) -> LocalReviewState:
    """Query the review until `ready` holds (a signal is applied asynchronously)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        review = await handle.query(LocalReviewWorkflow.review)
        if ready(review):
            return review
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"review never became ready; stage={review.stage}")
        await asyncio.sleep(0.05)


def dated(review: LocalReviewState) -> bool:
    """Every due date the review asked the calendar for has come back."""
    return all(t.due is None or t.due.due_date is not None or t.not_required
               for t in review.tasks)


def by_signal(handle: Handle) -> Send:
    """Send a record as a signal, and wait until it is applied and its dates are known."""
    async def send(step: str, actor: Actor | None = None, **fields: Any) -> None:
        count = len((await handle.query(LocalReviewWorkflow.review)).events)
        await handle.signal("record", message(step, actor, **fields))
        await review_when(handle, lambda r: len(r.events) > count and dated(r))
    return send


def by_update(handle: Handle) -> Send:
    async def send(step: str, actor: Actor | None = None, **fields: Any) -> None:
        await handle.execute_update("record", message(step, actor, **fields),
                                    result_type=LocalReviewState)
    return send


CONSENT: dict[str, Any] = {"sought_from": "The child's mother", "sought_on": "2026-01-05",
                           "given": True}


async def to_review(send: Send, request: bool = False) -> None:
    """Terms of reference agreed and endorsed, and the reviewer commissioned; a Flowchart 4
    review (`request`) has the family's consent first."""
    if request:
        await send("consent", **CONSENT)
    await send("terms_of_reference", **TERMS)
    for p in PARTNERS:
        await send("tor_endorsement", actor=dsp(p), partner=p)
    await send("reviewer_commissioned", **REVIEWER)


async def to_publication(send: Send) -> None:
    """The final report in and endorsed by every partner (the action plan then starts)."""
    await send("final_report", **REPORT)
    for p in PARTNERS:
        await send("report_endorsement", actor=dsp(p), partner=p)


@asynccontextmanager
async def review_from_monday(
    env: WorkflowEnvironment, sessions: Sessionmaker, **start: Any
) -> AsyncIterator[tuple[Handle, LocalReviewState, date]]:
    """An LCSPR of a stored case, decided (clock L) at 10:00 on the next Monday, with a worker
    of its own and the action plan stood in for: its handle, the review once its clock L is
    set, and that Monday. `start`: more of `start_review`'s fields (the kind, yjb_notified)."""
    from tests.action_plan_stand_in import StandInActionPlan
    from tests.scenarios import LONDON, at_london, travel_to

    now = (await env.get_current_time()).astimezone(LONDON).date()
    big_l = now + timedelta(days=7 - now.weekday())
    await travel_to(env, at_london(big_l, 10))
    case_id = review_case_id()
    await store_case(sessions, case_id, at_london(big_l, 9))
    async with review_worker(env.client, sessions, StandInActionPlan) as worker:
        handle = await start_review(env.client, worker.task_queue, case_id, big_l, **start)
        review = await review_when(handle, lambda r: r.clock_l is not None)
        yield handle, review, big_l

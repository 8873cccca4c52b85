"""The action-plan workflow under the time-skipping server: reminders and escalations of
actions and reviews, years of quarterly reviews across continue-as-new, and the sign-off.

Records go in as signals here (Updates are unreliable on the Java time-skipping server; the
API tests drive them on the dev server).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, time, timedelta
from typing import Any

from sqlalchemy import select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.action_plan import ActionPlanState, ActionStatus, PlanStage
from domain.action_plan_records import PlanStep
from domain.calendar import WorkingDayCalendar, end_of_day, london_instant
from domain.case import Channel, EventKind
from domain.decisions import Actor
from domain.reviews import ActionPlanResult
from store.db import Sessionmaker
from store.models import AuditEvent, CasePart
from tests.action_plans import (
    Handle,
    agree_transfer,
    dsp,
    plan_when,
    runs,
    sign_off,
    signal,
    start_plan,
)
from tests.conftest import new_worker
from tests.factories import case_when, clocks_started, start_case
from tests.scenarios import LONDON, at_london, travel_to
from workflows import search_attributes as sa

CALENDAR = WorkingDayCalendar()
HISTORY_PER_RUN = 100  # the least a run may keep: continues as new every few reviews
BOARD = Actor(subject="chair@cspr.test", role="board")


def next_monday(after: date) -> date:
    return after + timedelta(days=7 - after.weekday())


def nine_am(day: date, working_days_before: int = 5) -> Any:
    return london_instant(CALENDAR.add_working_days(day, -working_days_before), time(9))


async def stored_case(env: WorkflowEnvironment, task_queue: str) -> str:
    """A case in the case store (a plan's part and trail hang off it)."""
    case_id = f"CSPR-2026-{uuid.uuid4().hex[:8].upper()}"
    handle = await start_case(env.client, task_queue, case_id, await env.get_current_time(),
                              children=[{"reference": f"PLAN-{uuid.uuid4().hex[:8]}"}])
    await case_when(handle, clocks_started)
    # Left running: terminating a case on the time-skipping server can leave its clock locked.
    return case_id


def reviews(n: int) -> Callable[[ActionPlanState], bool]:
    return lambda p: len(p.reviews) == n


def kinds(plan: ActionPlanState, kind: EventKind) -> list[tuple[str | None, str | None]]:
    return [(e.step.value if e.step else None, e.action_id) for e in plan.events
            if e.kind is kind]


async def test_an_action_is_reminded_then_escalated_and_sign_off_waits_for_it(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    monday = next_monday((await time_env.get_current_time()).astimezone(LONDON).date())
    due = monday + timedelta(weeks=4)
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        case_id = await stored_case(time_env, worker.task_queue)
        handle = await start_plan(time_env.client, worker.task_queue, case_id,
                                  recommendations=["Joint training"])
        await signal(handle, "add_action", recommendation=1, what="Joint training",
                     owner="North Lincolnshire Council", due_date=due,
                     addresses_inequalities=True)
        plan = await plan_when(handle, lambda p: bool(p.actions)
                               and p.actions[0].due.remind_at is not None)
        action = plan.actions[0]
        assert action.due.deadline_at == end_of_day(due)
        assert action.due.remind_at == nine_am(due)  # a week's notice: 5 working days
        assert plan.stage is PlanStage.MONITORING

        await travel_to(time_env, nine_am(due) + timedelta(minutes=1))
        plan = await plan_when(handle, lambda p: bool(kinds(p, EventKind.REMINDER)))
        assert kinds(plan, EventKind.REMINDER) == [(None, "A1")]
        assert not plan.overdue

        # The partners cannot sign off while the action is open: refused, nothing changes.
        await signal(handle, "board_signoff", dsp("health"), partner="health")
        plan = await plan_when(handle, lambda p: bool(kinds(p, EventKind.SIGNAL_REJECTED)))
        rejected = plan.events[-1]
        assert (rejected.step, rejected.channel) == (PlanStep.BOARD_SIGNOFF, Channel.SIGNAL)
        assert "actions not completed or closed: A1" in rejected.detail
        assert plan.stage is PlanStage.MONITORING

        await travel_to(time_env, end_of_day(due) + timedelta(minutes=1))
        plan = await plan_when(handle, lambda p: bool(kinds(p, EventKind.OVERDUE)))
        assert kinds(plan, EventKind.OVERDUE) == [(None, "A1")]
        assert plan.actions[0].overdue
        assert plan.overdue
        described = await handle.describe()
        attributes = described.typed_search_attributes
        assert attributes.get(sa.OVERDUE) is True
        assert attributes.get(sa.STAGE) == "action_plan:monitoring"
        assert attributes.get(sa.CASE_ID) == case_id

        # The plan kept waiting: the late completion is taken, then the sign-off.
        await signal(handle, "complete_action", action_id="A1", evidence="Attendance records")
        plan = await plan_when(handle, lambda p: p.stage is PlanStage.READY_FOR_SIGNOFF)
        assert plan.actions[0].completed_late
        assert not plan.overdue
        signed_off_on = (await time_env.get_current_time()).astimezone(LONDON).date()
        await sign_off(handle)
        assert await handle.result() == ActionPlanResult(case_id=case_id,
                                                         signed_off_on=signed_off_on)
        async with sessions() as s:
            part = await s.get(CasePart, (case_id, "action_plan"))
        assert part is not None
        assert (part.stage, part.overdue, part.next_deadline) == ("signed_off", False, None)


async def test_reviews_come_quarterly_and_an_unheld_one_is_escalated(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    monday = next_monday((await time_env.get_current_time()).astimezone(LONDON).date())
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        case_id = await stored_case(time_env, worker.task_queue)
        handle = await start_plan(time_env.client, worker.task_queue, case_id)
        plan = await plan_when(handle, lambda p: p.next_review.remind_at is not None)
        first = monday + timedelta(weeks=13)
        assert plan.next_review.due_date == first
        assert plan.next_review.remind_at == nine_am(first)

        await travel_to(time_env, end_of_day(first) + timedelta(hours=1))
        plan = await plan_when(handle, lambda p: bool(kinds(p, EventKind.OVERDUE)))
        assert kinds(plan, EventKind.REMINDER) == [("plan_review", None)]
        assert kinds(plan, EventKind.OVERDUE) == [("plan_review", None)]
        assert plan.overdue

        # Held a week late: the next one counts 13 weeks from the day it was held.
        held = first + timedelta(days=7)
        await travel_to(time_env, at_london(held, 14))
        await signal(handle, "plan_review", progress="Actions being drafted")
        plan = await plan_when(handle, lambda p: p.next_review.due_date is not None
                               and len(p.reviews) == 1)
        assert plan.reviews[0].late
        assert plan.next_review.due_date == held + timedelta(weeks=13)
        assert not plan.overdue
        await handle.terminate("test over")


async def stored_when(sessions: Sessionmaker, case_id: str,
                      ready: Callable[[ActionPlanState], bool],
                      within: float = 30.0) -> ActionPlanState:
    """Read the plan from the case store (its projection) until `ready` holds.

    The test of years of reviews reads the store, not the workflow: the Java time-skipping
    server's continue-as-new is not atomic (sdk-java#1538, sdk-python#826), and a query that
    reaches a run in the moment it continues as new can be left unanswered, holding the
    server's clock with it (a `sleep` that skips time then times out too). The store has every
    change the workflow makes: the main loop projects each one.
    """
    deadline = asyncio.get_running_loop().time() + within
    stage = "not written"
    while True:
        async with sessions() as s:
            part = await s.get(CasePart, (case_id, "action_plan"))
        if part is not None:
            plan = ActionPlanState.model_validate(part.snapshot)
            if ready(plan):
                return plan
            stage = plan.stage.value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"plan never became ready in the store; stage={stage}")
        await asyncio.sleep(0.05)


async def burst_across_a_boundary(client: Client, handle: Handle, first_run: str,
                                  sessions: Sessionmaker, case_id: str,
                                  send: Callable[[int], Awaitable[None]], start: int) -> int:
    """Send records (numbered from `start`) one after another, without waiting for any to be
    applied, until the plan's run is long enough to continue as new, then three more while
    it drains its handlers to do so; returns how many were sent."""
    before = len(await runs(client, handle.id, first_run))
    sent = 0
    while (await handle.describe()).history_length < HISTORY_PER_RUN:
        await send(start + sent)
        sent += 1
        assert sent < 100, "the run never grew long enough"
    for _ in range(3):
        await send(start + sent)
        sent += 1
    await stored_when(sessions, case_id, lambda p: len(p.actions) == start + sent)
    for _ in range(200):
        if len(await runs(client, handle.id, first_run)) > before:
            return sent
        await asyncio.sleep(0.05)
    raise AssertionError("the plan did not continue as new")


async def test_years_of_reviews_continue_as_new_and_lose_no_signal(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    """Three years of quarterly reviews, with a run's history kept to 100 events: the plan
    continues as new several times; records sent one after another across those boundaries
    all land, numbered once each, and the audit trail in the case store is unbroken."""
    monday = next_monday((await time_env.get_current_time()).astimezone(LONDON).date())
    far = monday + timedelta(weeks=160)
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        case_id = await stored_case(time_env, worker.task_queue)
        handle = await start_plan(time_env.client, worker.task_queue, case_id,
                                  history_per_run=HISTORY_PER_RUN)
        first_run = handle.first_execution_run_id or handle.result_run_id
        assert first_run is not None

        async def add(n: int) -> None:
            await signal(handle, "add_action", recommendation=1 + n % 2, what=f"Action {n}",
                         owner="North Lincolnshire Council", due_date=far)

        added = await burst_across_a_boundary(time_env.client, handle, first_run, sessions,
                                              case_id, add, 0)
        for quarter in range(1, 13):
            plan = await stored_when(sessions, case_id,
                                     lambda p: p.next_review.due_date is not None)
            due = plan.next_review.due_date
            assert due is not None
            await travel_to(time_env, at_london(due - timedelta(days=1), 11))
            await signal(handle, "plan_review", progress=f"Quarter {quarter}")
            if quarter == 6:
                await agree_transfer(handle, "safeguarding_partnership_meeting")
            plan = await stored_when(sessions, case_id, reviews(quarter))
            if quarter == 8:  # more actions after the second year's review, across a boundary
                added += await burst_across_a_boundary(
                    time_env.client, handle, first_run, sessions, case_id, add, added)
        assert [r.progress for r in plan.reviews] == [f"Quarter {q}" for q in range(1, 13)]
        assert not any(r.late for r in plan.reviews)
        assert plan.reviews[-1].oversight.value == "safeguarding_partnership_meeting"

        plan = await stored_when(sessions, case_id, lambda p: len(p.actions) == added)
        assert [a.action_id for a in plan.actions] == [f"A{n}" for n in range(1, added + 1)]
        assert [a.what for a in plan.actions] == [f"Action {n}" for n in range(added)]
        for n in range(1, added + 1):
            await signal(handle, "complete_action", action_id=f"A{n}", evidence=f"Evidence {n}")
        await stored_when(sessions, case_id, lambda p: p.stage is PlanStage.READY_FOR_SIGNOFF)
        signed_off_on = (await time_env.get_current_time()).astimezone(LONDON).date()
        await signal(handle, "no_equality_action", reason="None bears on inequality")
        await sign_off(handle)
        result = await handle.result()
        assert result == ActionPlanResult(case_id=case_id, signed_off_on=signed_off_on)

        chain = await runs(time_env.client, handle.id, first_run)
        assert len(chain) >= 3  # continued as new at least twice
        final = await time_env.client.get_workflow_handle(handle.id, run_id=chain[-1]).query(
            "plan", result_type=ActionPlanState)
        assert all(a.status is ActionStatus.COMPLETED for a in final.actions)
        assert final.stage is PlanStage.SIGNED_OFF
        async with sessions() as s:
            trail = list(await s.scalars(select(AuditEvent.sequence).where(
                AuditEvent.case_id == case_id, AuditEvent.part == "action_plan")
                .order_by(AuditEvent.sequence)))
        assert trail == list(range(1, final.event_count + 1))

"""A case told that a bank holiday was added (or withdrawn) counts its open steps' due dates
again: the new date holds, nothing escalates at the old one, a step already done keeps the
deadline it was judged by, and a difference of opinion's target moves too.

Under the time-skipping server, with the real calendar activity reading the case store (the
run's: each test withdraws the day it added).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.calendar import CalendarChanged, WorkingDayCalendar
from domain.case import CaseState, Channel, EventKind, Stage, StepStatus
from domain.procedure import Step
from store.db import Sessionmaker
from tests.bank_holidays import a_plain_week, add_day
from tests.conftest import new_worker
from tests.factories import case_when, clocks_started, signal, start_case
from tests.scenarios import at_london, travel_to
from workflows.serious_incident import SeriousIncidentWorkflow

CAL = WorkingDayCalendar()
Handle = WorkflowHandle[SeriousIncidentWorkflow, Any]








def moved(case: CaseState) -> list[str]:
    return [f"{e.step.value if e.step else '-'}: {e.detail}" for e in case.events
            if e.kind is EventKind.DEADLINE_MOVED]


async def test_an_added_day_moves_the_open_steps_and_nothing_escalates_at_the_old_date(
    time_env: WorkflowEnvironment, sessions: Sessionmaker, added: list[date]
) -> None:
    monday = a_plain_week((await time_env.get_current_time()).date(), 21)
    tuesday, wednesday = monday + timedelta(days=1), monday + timedelta(days=2)
    thursday, friday = monday + timedelta(days=3), monday + timedelta(days=4)
    next_monday = monday + timedelta(days=7)
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        handle: Handle = await start_case(time_env.client, worker.task_queue,
                                          f"CSPR-2026-BH{uuid.uuid4().hex[:4]}",
                                          await time_env.get_current_time())
        case = await case_when(handle, clocks_started)
        assert [case.step(s).due_date for s in (
            Step.INFORM_PARTNERS, Step.SSL_RECOMMENDATION, Step.DSP_DECISION,
            Step.PANEL_NOTIFICATION)] == [tuesday, thursday, friday, next_monday]
        await signal(handle, "inform_partners")  # done on time: keeps its deadline
        await case_when(handle, lambda c: c.stage is Stage.SSL_RECOMMENDATION)

        # Wednesday is declared a bank holiday, as in 2022.
        await add_day(sessions, added, wednesday)
        await handle.signal("calendar_changed", CalendarChanged(day=wednesday, change="added"))
        case = await case_when(handle, lambda c: len(moved(c)) == 3)
        why = f"calendar: {wednesday} added"
        assert moved(case) == [
            f"ssl_recommendation: local deadline {thursday} -> {friday} ({why})",
            f"dsp_decision: local deadline {friday} -> {next_monday} ({why})",
            f"panel_notification: statutory deadline {next_monday} -> "
            f"{next_monday + timedelta(days=1)} ({why})",
        ]
        assert {e.channel for e in case.events if e.kind is EventKind.DEADLINE_MOVED} == {
            Channel.SYSTEM}
        assert case.step(Step.INFORM_PARTNERS).due_date == tuesday
        assert case.step(Step.INFORM_PARTNERS).status is StepStatus.DONE
        assert case.step(Step.SSL_RECOMMENDATION).due_date == friday

        # Thursday ends: the old deadline, no escalation; Friday ends: escalated once.
        await travel_to(time_env, at_london(friday, 8))
        case = await handle.query(SeriousIncidentWorkflow.case)
        assert not [e for e in case.events if e.kind is EventKind.OVERDUE]
        assert case.step(Step.SSL_RECOMMENDATION).status is StepStatus.PENDING
        await travel_to(time_env, at_london(friday + timedelta(days=1), 0, 5))
        case = await case_when(handle, lambda c: any(e.kind is EventKind.OVERDUE
                                                     for e in c.events))
        assert [e.step for e in case.events if e.kind is EventKind.OVERDUE] == [
            Step.SSL_RECOMMENDATION]
        await handle.terminate("test over")


async def test_an_overdue_step_moved_past_now_is_pending_again_and_a_difference_moves(
    time_env: WorkflowEnvironment, sessions: Sessionmaker, added: list[date]
) -> None:
    """The DSPs disagree on Friday: the case raises a difference of opinion (target 5 working
    days on). The next Monday's panel_notification deadline has passed when the Monday is
    declared a bank holiday: it moves to Tuesday, pending again; the difference's target too."""
    monday = a_plain_week((await time_env.get_current_time()).date(), 21)
    friday, next_monday = monday + timedelta(days=4), monday + timedelta(days=7)
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        handle: Handle = await start_case(time_env.client, worker.task_queue,
                                          f"CSPR-2026-BO{uuid.uuid4().hex[:4]}",
                                          await time_env.get_current_time())
        await case_when(handle, clocks_started)
        await signal(handle, "inform_partners")
        await signal(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Met")
        await travel_to(time_env, at_london(friday, 10))
        for partner, met in (("local_authority", True), ("health", True), ("police", False)):
            await signal(handle, "dsp_decision", partner=partner, criteria_met=met,
                         rationale="Doc 4 Part B")
        case = await case_when(handle, lambda c: c.stage is Stage.DIFFERENCE_OF_OPINION and
                               bool(c.differences.items) and
                               c.differences.items[0].target.due_date is not None)
        target = case.differences.items[0].target.due_date
        assert target == CAL.add_working_days(friday, 5)

        # Tuesday morning: the panel notification (due Monday) is overdue.
        await travel_to(time_env, at_london(next_monday + timedelta(days=1), 0, 30))
        case = await case_when(handle, lambda c: c.step(Step.PANEL_NOTIFICATION).status
                               is StepStatus.OVERDUE)
        await add_day(sessions, added, next_monday)
        await handle.signal("calendar_changed",
                            CalendarChanged(day=next_monday, change="added"))
        case = await case_when(handle, lambda c: any(
            e.step is Step.PANEL_NOTIFICATION for e in c.events
            if e.kind is EventKind.DEADLINE_MOVED) and any(
            "DOO-1" in e.detail for e in c.events if e.kind is EventKind.DEADLINE_MOVED))
        notice = case.step(Step.PANEL_NOTIFICATION)
        assert notice.due_date == next_monday + timedelta(days=1)
        assert notice.status is StepStatus.PENDING
        assert case.differences.items[0].target.due_date == CAL.with_changes(
            [next_monday], []).add_working_days(friday, 5)
        await handle.terminate("test over")

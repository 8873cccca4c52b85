"""An LCSPR told that a bank holiday was added (or withdrawn) recounts its open working-day
deadlines: the new due date holds, nothing escalates at the old one, and an overdue task
whose deadline moves past now is no longer overdue. Publication (calendar months) stays.
An action plan's due dates are given dates: only its reminders (working days before) move.

Under the time-skipping server, with the real calendar activity reading the case store; the
store is the run's, so each test withdraws the day it added.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from domain.calendar import CalendarChanged, WorkingDayCalendar
from domain.case import ClockPoint, EventKind, StepStatus
from domain.local_review import LocalReviewState
from domain.local_review_records import LocalReviewStep
from domain.local_review_tasks import Dated, Due, Task
from domain.procedure import CURRENT_PROCEDURE, DeadlineKind
from domain.reviews import LocalReviewInput, ReviewKind
from store import calendar as store
from store.db import Sessionmaker
from tests.action_plan_stand_in import StandInActionPlan
from tests.action_plans import plan_when, signal, start_plan
from tests.bank_holidays import a_plain_week, add_day
from tests.conftest import CONVERTER, new_worker
from tests.local_reviews import (
    Handle,
    by_signal,
    review_case_id,
    review_when,
    review_worker,
    start_review,
    store_case,
    to_review,
)
from tests.scenarios import at_london, travel_to
from workflows.local_review import LocalReviewWorkflow

S = LocalReviewStep
CAL = WorkingDayCalendar()








def calendar_events(review: LocalReviewState) -> list[str]:
    return [e.detail for e in review.events if e.detail.startswith("calendar:")]


async def told(handle: Handle, change: CalendarChanged, count: int) -> LocalReviewState:
    await handle.signal("calendar_changed", change)
    return await review_when(handle, lambda r: len(calendar_events(r)) == count)


async def test_an_added_day_moves_the_open_deadline_and_nothing_escalates_at_the_old(
    time_env: WorkflowEnvironment, sessions: Sessionmaker, added: list[date]
) -> None:
    client = time_env.client
    big_l = a_plain_week((await time_env.get_current_time()).date())  # a Monday
    await travel_to(time_env, at_london(big_l, 10))
    cid = review_case_id()
    await store_case(sessions, cid, at_london(big_l, 9))
    async with review_worker(client, sessions, StandInActionPlan) as worker:
        handle = await start_review(client, worker.task_queue, cid, big_l)
        review = await review_when(handle, lambda r: r.task(S.INFORM_PANEL).due_date is not None)
        old_due = big_l + timedelta(days=7)  # L+5 working days: the next Monday
        assert review.task(S.INFORM_PANEL).due_date == old_due
        published = review.task(S.PUBLISHED).due_date

        wednesday = big_l + timedelta(days=2)
        await add_day(sessions, added, wednesday)
        review = await told(handle, CalendarChanged(day=wednesday, change="added"), 1)
        new_due = big_l + timedelta(days=8)  # one working day fewer: the Tuesday
        inform = review.task(S.INFORM_PANEL)
        assert inform.due_date == new_due
        assert inform.due is not None
        assert inform.due.remind_at == at_london(old_due, 9)  # 09:00 the working day before
        assert review.task(S.PUBLISHED).due_date == published  # six calendar months: stays
        assert calendar_events(review) == [
            f"calendar: {wednesday} added; inform_panel {old_due} -> {new_due}"]
        assert review.events[-1].channel.value == "signal"

        # The old deadline passes: reminded (the day before the new one), not escalated.
        await travel_to(time_env, at_london(old_due + timedelta(days=1), 1))
        review = await review_when(handle, lambda r: [e.task for e in r.events if e.kind
                                                      is EventKind.REMINDER] == ["inform_panel"])
        assert review.task(S.INFORM_PANEL).status is StepStatus.PENDING
        assert not [e for e in review.events if e.kind is EventKind.OVERDUE]
        # The new one passes: escalated once.
        await travel_to(time_env, at_london(new_due + timedelta(days=1), 1))
        review = await review_when(handle, lambda r: r.overdue)
        assert [e.task for e in review.events if e.kind is EventKind.OVERDUE] == ["inform_panel"]
        await handle.terminate()


async def test_an_overdue_task_whose_deadline_moves_later_is_pending_again(
    time_env: WorkflowEnvironment, sessions: Sessionmaker, added: list[date]
) -> None:
    client = time_env.client
    big_l = a_plain_week((await time_env.get_current_time()).date())
    await travel_to(time_env, at_london(big_l, 10))
    cid = review_case_id()
    await store_case(sessions, cid, at_london(big_l, 9))
    async with review_worker(client, sessions, StandInActionPlan) as worker:
        handle = await start_review(client, worker.task_queue, cid, big_l)
        send = by_signal(handle)
        await to_review(send)  # the first supervision request: every 4 weeks, 20 working days
        review = await review_when(handle, lambda r: r.find(S.SUPERVISION_REQUEST, 1)
                                   is not None and r.task(S.SUPERVISION_REQUEST, 1).due_date
                                   is not None)
        request_due = review.task(S.SUPERVISION_REQUEST, 1).due_date
        assert request_due == big_l + timedelta(days=28)  # four plain weeks on: a Monday
        # Past both the request's and the Panel's deadlines: both overdue.
        await travel_to(time_env, at_london(request_due + timedelta(days=1), 10))
        review = await review_when(handle, lambda r: r.task(S.SUPERVISION_REQUEST, 1).status
                                   is StepStatus.OVERDUE)
        assert review.task(S.INFORM_PANEL).status is StepStatus.OVERDUE

        # A bank holiday added on the request's own day (announced late, as in 2022): its
        # deadline moves to Tuesday, which has not ended: overdue no longer. The Panel's
        # deadline (L+5) is before the day and does not move.
        await add_day(sessions, added, request_due)
        review = await told(handle, CalendarChanged(day=request_due, change="added"), 1)
        request = review.task(S.SUPERVISION_REQUEST, 1)
        assert request.due_date == request_due + timedelta(days=1)
        assert request.status is StepStatus.PENDING
        assert review.task(S.INFORM_PANEL).status is StepStatus.OVERDUE
        assert review.overdue

        # Withdrawn again: back to Monday, which has passed; escalated again at once.
        async with sessions.begin() as session:
            await store.withdraw(session, request_due)
        added.clear()
        review = await told(handle, CalendarChanged(day=request_due, change="withdrawn"), 2)
        review = await review_when(handle, lambda r: r.task(S.SUPERVISION_REQUEST, 1).status
                                   is StepStatus.OVERDUE)
        assert review.task(S.SUPERVISION_REQUEST, 1).due_date == request_due
        overdue = [e.task for e in review.events if e.kind is EventKind.OVERDUE]
        assert overdue.count("supervision_request#1") == 2
        await handle.terminate()


def test_a_task_recorded_while_the_calendar_answered_keeps_its_record() -> None:
    """The signal's handler waits for the activity; a record in between is not undone."""
    now = at_london(date(2097, 6, 10), 10)
    review = LocalReviewState.start(LocalReviewInput(
        case_id="CSPR-2097-0001", kind=ReviewKind.SERIOUS_INCIDENT,
        decided_on=date(2097, 6, 10), procedure_version=CURRENT_PROCEDURE.version), now)
    review.set_dates([Dated(key="inform_panel", due_date=date(2097, 6, 17),
                            deadline_at=at_london(date(2097, 6, 18), 0),
                            remind_at=at_london(date(2097, 6, 14), 9))])
    asked = review.working_day_needs()
    assert [(n.key, n.start, n.working_days) for n in asked] == [
        ("inform_panel", ClockPoint(on=date(2097, 6, 10)), 5)]
    moved = Dated(key="inform_panel", due_date=date(2097, 6, 18),
                  deadline_at=at_london(date(2097, 6, 19), 0),
                  remind_at=at_london(date(2097, 6, 17), 9))
    review.task(S.INFORM_PANEL).not_required = True  # no longer open, however it closed
    change = CalendarChanged(day=date(2097, 6, 12), change="added")
    assert review.calendar_changed(now, change, asked, [moved]) == []
    assert review.task(S.INFORM_PANEL).due_date == date(2097, 6, 17)
    assert review.events[-1].detail == "calendar: 2097-06-12 added; no open deadline moved"


CALENDAR_HISTORY = (Path(__file__).parent / "histories" / "local_review"
                    / "bank_holiday_added_then_withdrawn.lcspr2.json")


async def test_a_review_told_of_a_bank_holiday_replays(monkeypatch: pytest.MonkeyPatch) -> None:
    """The committed history of a review told twice (added, withdrawn) replays; not asking the
    calendar again (a change of commands) is caught."""
    history = WorkflowHistory.from_json("calendar", json.loads(CALENDAR_HISTORY.read_text()))
    signals = [e.workflow_execution_signaled_event_attributes.signal_name
               for e in history.events
               if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
    assert signals.count("calendar_changed") == 2
    replayer = Replayer(workflows=[LocalReviewWorkflow], data_converter=CONVERTER,
                        workflow_runner=UnsandboxedWorkflowRunner())
    assert (await replayer.replay_workflow(history)).replay_failure is None
    monkeypatch.setattr(LocalReviewState, "working_day_needs", lambda _: [])
    changed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert changed.replay_failure is not None


async def test_an_action_plans_reminder_moves_and_its_due_date_stays(
    time_env: WorkflowEnvironment, sessions: Sessionmaker, added: list[date]
) -> None:
    monday = a_plain_week((await time_env.get_current_time()).date())
    due = monday + timedelta(weeks=4)  # a Monday; no bank holiday in the weeks before
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        cid = review_case_id()
        await store_case(sessions, cid, at_london(monday, 9))
        handle = await start_plan(time_env.client, worker.task_queue, cid,
                                  recommendations=["Joint training"])
        await signal(handle, "add_action", recommendation=1, what="Joint training",
                     owner="North Lincolnshire Council", due_date=due)
        plan = await plan_when(handle, lambda p: bool(p.actions)
                               and p.actions[0].due.remind_at is not None)
        assert plan.actions[0].due.remind_at == at_london(due - timedelta(days=7), 9)

        wednesday = due - timedelta(days=5)
        await add_day(sessions, added, wednesday)
        await handle.signal("calendar_changed", CalendarChanged(day=wednesday, change="added"))
        plan = await plan_when(handle, lambda p: any(e.detail.startswith("calendar:")
                                                     for e in p.events))
        action = plan.actions[0]
        # Five working days before Monday, Wednesday a holiday: the Friday before last.
        assert action.due.remind_at == at_london(due - timedelta(days=10), 9)
        assert action.due.due_date == due
        assert plan.events[-1].detail == (f"calendar: {wednesday} added; 2 reminders counted "
                                          "again")  # the action's and the next review's
        await handle.terminate()


def test_the_report_is_counted_back_from_the_planned_publication() -> None:
    """Statutory: sent no later than seven working days before publication; a new calendar
    counts it again from the planned date. Supervision and returns from what they count from."""
    now = at_london(date(2097, 6, 10), 10)
    review = LocalReviewState.start(LocalReviewInput(
        case_id="CSPR-2097-0002", kind=ReviewKind.SERIOUS_INCIDENT,
        decided_on=date(2097, 6, 10), procedure_version=CURRENT_PROCEDURE.version), now)
    review.planned_publication = date(2097, 12, 1)
    sent = review.task(S.REPORT_SENT)
    sent.due = Due(kind=DeadlineKind.STATUTORY, basis="7 working days before publication",
                   due_date=date(2097, 11, 20))
    review.tasks.append(Task(step=S.PROGRESS_RETURN, number=1, due=Due(
        kind=DeadlineKind.LOCAL, basis="request+10 working days", due_date=date(2097, 7, 1),
        since=ClockPoint(on=date(2097, 6, 17)))))
    review.task(S.PUBLISHED).due.due_date = date(2097, 12, 10)  # type: ignore[union-attr]
    assert [(n.key, n.start, n.working_days, n.calendar_months)
            for n in review.working_day_needs()] == [
        ("report_sent", ClockPoint(on=date(2097, 12, 1)), -7, 0),
        ("progress_return#1", ClockPoint(on=date(2097, 6, 17)), 10, 0)]

"""The serious-incident workflow under the time-skipping server: deadlines, reminders, escalations.

Decisions go in as signals here (Updates are unreliable on the Java time-skipping server;
tests/test_updates.py drives them on the dev server). Each test moves the shared clock forward.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.case import (
    OPTIONAL_STEPS,
    CaseState,
    Channel,
    EventKind,
    Outcome,
    Stage,
    StepStatus,
)
from domain.procedure import Clock, Step
from store.db import Sessionmaker
from tests.conftest import new_worker
from tests.factories import case_when, clocks_started, signal, start_case
from tests.scenarios import (
    LONDON,
    at_london,
    next_monday_21_december,
    next_wednesday_before_easter,
    rapid_review_to_submission,
    travel_to,
)
from workflows.serious_incident import SeriousIncidentWorkflow

Handle = WorkflowHandle[SeriousIncidentWorkflow, Any]
PARTNERS = ("local_authority", "health", "police")


def due(case: CaseState) -> dict[str, date | None]:
    return {s.step.value: s.due_date for s in case.steps}


def status(case: CaseState, step: Step) -> StepStatus:
    return case.step(step).status


def alerts(case: CaseState, kind: EventKind) -> list[tuple[str, str]]:
    """(step, minute it fired) for each event of a kind; timers fire a few ms after the minute."""
    return [(e.step.value, e.at.replace(second=0, microsecond=0).isoformat())
            for e in case.events if e.kind is kind and e.step]


async def opened(handle: Handle) -> CaseState:
    return await case_when(handle, clocks_started)


async def test_whole_timeline_over_christmas_with_reminders_and_escalations(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    monday = next_monday_21_december(await time_env.get_current_time())
    y = monday.year

    def dec(d: int) -> date:
        return date(y, 12, d)

    def jan(d: int) -> date:
        return date(y + 1, 1, d)

    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        handle = await start_case(time_env.client, worker.task_queue, f"CSPR-{y}-XMAS01",
                                  await time_env.get_current_time())
        case = await opened(handle)
        # 25 Dec (Fri) and 28 Dec (Boxing Day, substitute for Saturday) are not working days.
        assert {k: due(case)[k] for k in ("inform_partners", "ssl_recommendation",
                                          "dsp_decision", "panel_notification")} == {
            "inform_partners": dec(22), "ssl_recommendation": dec(24),
            "dsp_decision": dec(29), "panel_notification": dec(30),
        }
        assert case.step(Step.PANEL_NOTIFICATION).statutory
        assert not case.step(Step.DSP_DECISION).statutory
        assert due(case)["agency_requests"] is None  # clock D has not started

        await signal(handle, "inform_partners")
        case = await case_when(handle, lambda c: c.stage is Stage.SSL_RECOMMENDATION)
        assert status(case, Step.INFORM_PARTNERS) is StepStatus.DONE

        # The SSLs are reminded at 09:00 the working day before their due date...
        await travel_to(time_env, at_london(dec(23), 9, 30))
        case = await case_when(handle, lambda c: bool(alerts(c, EventKind.REMINDER)))
        assert ("ssl_recommendation", at_london(dec(23), 9).isoformat()) in alerts(
            case, EventKind.REMINDER)
        assert status(case, Step.SSL_RECOMMENDATION) is StepStatus.PENDING

        # ...and escalated when the day ends. The case keeps waiting for them.
        await travel_to(time_env, at_london(dec(25), 0, 1))
        case = await case_when(handle, lambda c: bool(alerts(c, EventKind.OVERDUE)))
        assert alerts(case, EventKind.OVERDUE) == [
            ("ssl_recommendation", at_london(dec(25), 0).isoformat())]
        assert status(case, Step.SSL_RECOMMENDATION) is StepStatus.OVERDUE
        assert case.stage is Stage.SSL_RECOMMENDATION
        assert case.overdue

        await signal(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Known injuries, two agencies")
        case = await case_when(handle, lambda c: c.stage is Stage.DSP_DECISION)
        assert status(case, Step.SSL_RECOMMENDATION) is StepStatus.DONE_LATE

        await travel_to(time_env, at_london(dec(29), 11))
        for partner in PARTNERS:
            await signal(handle, "dsp_decision", partner=partner, criteria_met=True,
                         rationale="Criteria met")
        case = await case_when(handle, lambda c: c.stage is Stage.RAPID_REVIEW
                               and c.step(Step.AGENCY_REQUESTS).due_date is not None)
        assert status(case, Step.DSP_DECISION) is StepStatus.DONE
        assert case.clock_dates[Clock.RAPID_REVIEW_DECISION] == dec(29)
        # Clock D = 29 Dec; 1 January is a bank holiday, 2-3 January a weekend.
        assert {k: due(case)[k] for k in (
            "agency_requests", "agency_reports", "rapid_review_meeting", "rapid_review_report",
            "rapid_review_signoff", "wellbeing_sessions")} == {
            "agency_requests": dec(30), "agency_reports": jan(6),
            "rapid_review_meeting": jan(7), "rapid_review_report": jan(14),
            # Procedure r3: the DSPs' sign-off D+14; the wellbeing sessions have no date.
            "rapid_review_signoff": jan(19), "wellbeing_sessions": None,
        }
        submission = case.step(Step.RAPID_REVIEW_SUBMISSION)
        assert [(d.kind.value, d.due_date) for d in submission.deadlines] == [
            ("local", jan(20)), ("statutory", None)]

        await travel_to(time_env, at_london(dec(30), 15))
        await signal(handle, "panel_notification", notified_at=at_london(dec(30), 14),
                     reference="CSPN-0001")
        await signal(handle, "agency_requests", agencies=["Council", "NHS Trust"])
        case = await case_when(handle, lambda c: Clock.PANEL_NOTIFIED in c.clock_dates
                               and c.step(Step.AGENCY_REQUESTS).completion is not None)
        assert status(case, Step.PANEL_NOTIFICATION) is StepStatus.DONE
        # The statutory P+15 deadline: 15 working days from 30 December.
        submission = case.step(Step.RAPID_REVIEW_SUBMISSION)
        assert [(d.kind.value, d.due_date) for d in submission.deadlines] == [
            ("local", jan(20)), ("statutory", jan(21))]
        assert submission.statutory
        assert submission.due_date == jan(20)

        await signal(handle, "agency_reports", agency="council")
        await travel_to(time_env, at_london(jan(7), 9, 30))
        case = await case_when(handle, lambda c: status(c, Step.AGENCY_REPORTS)
                               is StepStatus.OVERDUE)
        assert [p.party for p in case.step(Step.AGENCY_REPORTS).parts] == ["Council"]
        await signal(handle, "agency_reports", agency="NHS Trust")
        case = await case_when(handle, lambda c: c.step(Step.AGENCY_REPORTS).completion
                               is not None)
        assert status(case, Step.AGENCY_REPORTS) is StepStatus.DONE_LATE

        async def send(step: str, **fields: Any) -> None:
            if step not in ("agency_requests", "agency_reports"):
                await signal(handle, step, **fields)

        await rapid_review_to_submission(send, [])
        case = await case_when(handle, lambda c: c.stage is Stage.LOCAL_REVIEW)
        assert case.outcome is Outcome.LOCAL_REVIEW
        assert status(case, Step.WELLBEING_SESSIONS) is StepStatus.NOT_REQUIRED
        assert status(case, Step.RAPID_REVIEW_SUBMISSION) is StepStatus.DONE
        assert status(case, Step.RAPID_REVIEW_SIGNOFF) is StepStatus.DONE

        # Every reminder and escalation went out exactly once.
        reminded = [(e.step, e.detail) for e in case.events if e.kind is EventKind.REMINDER]
        assert len(reminded) == len(set(reminded))
        escalated = [s for s, _ in alerts(case, EventKind.OVERDUE)]
        assert sorted(escalated) == ["agency_reports", "ssl_recommendation"]
        # Still running: the local review (next issue) continues from here.
        await handle.terminate("test over")


async def test_easter_timeline_and_a_difference_of_opinion(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    wednesday = next_wednesday_before_easter(await time_env.get_current_time())
    good_friday, easter_monday = wednesday + timedelta(days=2), wednesday + timedelta(days=5)
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(wednesday, 16))
        handle = await start_case(time_env.client, worker.task_queue,
                                  f"CSPR-{wednesday.year}-EASTR1",
                                  await time_env.get_current_time())
        case = await opened(handle)
        # Good Friday and Easter Monday are not working days.
        tuesday_after = easter_monday + timedelta(days=1)
        assert due(case)["inform_partners"] == wednesday + timedelta(days=1)
        assert due(case)["ssl_recommendation"] == tuesday_after + timedelta(days=1)
        assert due(case)["dsp_decision"] == tuesday_after + timedelta(days=2)
        assert due(case)["panel_notification"] == tuesday_after + timedelta(days=3)
        assert good_friday not in due(case).values()
        # Received at 16:00, due the next day: the reminder is at 09:00 on the due date.
        await travel_to(time_env, at_london(wednesday + timedelta(days=1), 9, 1))
        case = await case_when(handle, lambda c: bool(alerts(c, EventKind.REMINDER)))
        assert alerts(case, EventKind.REMINDER) == [
            ("inform_partners", at_london(wednesday + timedelta(days=1), 9).isoformat())]

        await signal(handle, "inform_partners")
        await signal(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Criteria met")
        await signal(handle, "dsp_decision", partner="local_authority", criteria_met=True,
                     rationale="Met")
        await signal(handle, "dsp_decision", partner="health", criteria_met=True,
                     rationale="Met")
        await signal(handle, "dsp_decision", partner="police", criteria_met=False,
                     rationale="No evidence of neglect")
        case = await case_when(handle, lambda c: c.stage is Stage.DIFFERENCE_OF_OPINION)
        assert [e.kind for e in case.events].count(EventKind.DIFFERENCE_OF_OPINION) == 1
        assert status(case, Step.DSP_DECISION) is StepStatus.PENDING
        assert due(case)["agency_requests"] is None

        # The deadline still runs while the partners disagree.
        await travel_to(time_env, at_london(tuesday_after + timedelta(days=3), 0, 5))
        case = await case_when(handle, lambda c: status(c, Step.DSP_DECISION)
                               is StepStatus.OVERDUE)
        assert case.stage is Stage.DIFFERENCE_OF_OPINION

        await signal(handle, "dsp_decision", partner="police", criteria_met=True,
                     rationale="Agreed after discussion with the SSLs")
        case = await case_when(handle, lambda c: c.stage is Stage.RAPID_REVIEW)
        assert status(case, Step.DSP_DECISION) is StepStatus.DONE_LATE
        assert case.dsp_decisions()["police"].criteria_met
        await handle.terminate("test over")


async def test_partners_agree_criteria_not_met_closes_the_case(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    async with new_worker(time_env.client, sessions) as worker:
        handle = await start_case(time_env.client, worker.task_queue, "CSPR-2026-NOTMET",
                                  await time_env.get_current_time())
        await opened(handle)
        await signal(handle, "inform_partners")
        await signal(handle, "ssl_recommendation", criteria_met=False,
                     recommend_panel_notification=False, rationale="Accidental injury")
        for partner in PARTNERS:
            await signal(handle, "dsp_decision", partner=partner, criteria_met=False,
                         rationale="Not abuse or neglect")
        result = await handle.result()
        assert result.outcome is Outcome.CRITERIA_NOT_MET
        case = await handle.query(SeriousIncidentWorkflow.case)
        assert case.stage is Stage.CLOSED
        for step in (Step.PANEL_NOTIFICATION, Step.AGENCY_REQUESTS,
                     Step.RAPID_REVIEW_SUBMISSION, Step.PANEL_RESPONSE):
            assert status(case, step) is StepStatus.NOT_REQUIRED
        assert all(r.rationale for r in case.dsp_decisions().values())


async def test_back_dated_receipt_is_overdue_at_once(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    now = await time_env.get_current_time()
    async with new_worker(time_env.client, sessions) as worker:
        handle = await start_case(time_env.client, worker.task_queue, "CSPR-2026-LATE01",
                                  now - timedelta(days=30))
        case = await case_when(handle, lambda c: len(alerts(c, EventKind.OVERDUE)) == 4)
        assert sorted(s for s, _ in alerts(case, EventKind.OVERDUE)) == [
            "dsp_decision", "inform_partners", "panel_notification", "ssl_recommendation"]
        assert alerts(case, EventKind.REMINDER) == []  # too late to remind
        assert case.overdue
        assert case.next_deadline() is None
        # A late entry keeps its own date and is judged against it.
        received_on = (now - timedelta(days=30)).astimezone(LONDON).date()
        await signal(handle, "inform_partners", completed_on=received_on.isoformat())
        case = await case_when(handle, lambda c: c.stage is Stage.SSL_RECOMMENDATION)
        assert status(case, Step.INFORM_PARTNERS) is StepStatus.DONE
        await handle.terminate("test over")


async def test_signal_at_the_wrong_stage_changes_nothing(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    async with new_worker(time_env.client, sessions) as worker:
        # A child of its own: a case for another test's child is flagged a likely duplicate.
        handle = await start_case(time_env.client, worker.task_queue, "CSPR-2026-WRONG1",
                                  await time_env.get_current_time(),
                                  children=[{"reference": f"WRONG-{uuid.uuid4().hex[:8]}"}])
        await opened(handle)
        await signal(handle, "rapid_review_submission")
        await signal(handle, "dsp_decision", partner="police", criteria_met=True,
                     rationale="Too early")
        case = await case_when(handle, lambda c: len(alerts(c, EventKind.SIGNAL_REJECTED)) == 2)
        assert case.stage is Stage.NOTIFIED
        # Only the opening (no notifier named: the system's) and the two refusals.
        assert [(e.kind, e.step, e.channel) for e in case.events] == [
            (EventKind.NOTIFIED, None, Channel.SYSTEM),
            (EventKind.SIGNAL_REJECTED, Step.RAPID_REVIEW_SUBMISSION, Channel.SIGNAL),
            (EventKind.SIGNAL_REJECTED, Step.DSP_DECISION, Channel.SIGNAL),
        ]
        assert case.records == []
        # (From r5 the steps that follow the Panel's answer apply only once it has given it.)
        after_panel = {Step.LOCAL_REVIEW_DECISION, Step.PANEL_INFORMATION}
        assert all(status(case, s.step) is StepStatus.PENDING for s in case.steps
                   if s.step not in OPTIONAL_STEPS | after_panel)
        assert all(status(case, s) is StepStatus.NOT_REQUIRED for s in after_panel)
        await handle.terminate("test over")

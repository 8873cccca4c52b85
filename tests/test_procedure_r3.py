"""Issue 9, item 1 (procedure nl-cspr-2025-06-r3) under the time-skipping server: the DSPs'
sign-off has its own working-day target and the wellbeing sessions have none.

Flowchart 2's labels, read in order: the chair's report at D+11, then "DSP review and sign-off
of Rapid Review Report and Doc 12 ... Within 14 working days", then the submission at D+15; the
"Reflective wellbeing sessions" are "On going consideration".
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingDayCalendar
from domain.case import EventKind, Stage, StepStatus
from domain.local_review_records import LocalReviewStep
from domain.procedure import (
    CURRENT_PROCEDURE,
    NL_CSPR_2025_06_R3,
    NL_CSPR_2025_06_R4,
    Clock,
    Step,
)
from store.db import Sessionmaker
from tests.action_plan_stand_in import StandInActionPlan
from tests.conftest import new_worker
from tests.factories import case_when, clocks_started, signal, start_case
from tests.local_reviews import (
    by_signal,
    dsp,
    review_case_id,
    review_when,
    review_worker,
    start_review,
    store_case,
    to_publication,
    to_review,
)
from tests.scenarios import LONDON, at_london, travel_to

PARTNERS = ("local_authority", "health", "police")
CALENDAR = WorkingDayCalendar()


def kinds(case: Any, kind: EventKind) -> list[str]:
    return [e.step.value for e in case.events if e.kind is kind and e.step]


async def test_dsp_signoff_is_due_d14_reminded_escalated_and_gates_the_submission(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"DSP review and sign-off of Rapid Review Report and Doc 12 ... Within 14 working days"
    (Flowchart 2): `rapid_review_signoff` is due D+14 working days, a local target, reminded
    and escalated like any step, and the statutory submission waits for every signature.
    "Reflective wellbeing sessions ... On going consideration": no deadline, never overdue,
    recorded (not relevant) after the case has passed every date."""
    assert NL_CSPR_2025_06_R4.spec(Step.RAPID_REVIEW_SIGNOFF) \
        == NL_CSPR_2025_06_R3.spec(Step.RAPID_REVIEW_SIGNOFF)  # kept from r3
    now = (await time_env.get_current_time()).astimezone(LONDON).date()
    monday = now + timedelta(days=7 - now.weekday())
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        handle = await start_case(time_env.client, worker.task_queue,
                                  f"CSPR-2027-R3{uuid.uuid4().hex[:6].upper()}",
                                  await time_env.get_current_time())
        await case_when(handle, clocks_started)
        await signal(handle, "inform_partners")
        await signal(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Known injuries")
        for partner in PARTNERS:
            await signal(handle, "dsp_decision", partner=partner, criteria_met=True,
                         rationale="Criteria met")
        case = await case_when(handle, lambda c: c.stage is Stage.RAPID_REVIEW
                               and c.step(Step.RAPID_REVIEW_SIGNOFF).due_date is not None)
        await signal(handle, "panel_notification", reference="CSPN-R3",
                     notified_at=await time_env.get_current_time())
        decided: date = case.clock_dates[Clock.RAPID_REVIEW_DECISION]
        signoff = case.step(Step.RAPID_REVIEW_SIGNOFF)
        assert signoff.due_date == CALENDAR.add_working_days(decided, 14)
        assert not signoff.statutory
        assert case.step(Step.WELLBEING_SESSIONS).due_date is None

        # Every signature missing at the day's end: reminded, then escalated.
        await travel_to(time_env, at_london(signoff.due_date + timedelta(days=1), 0, 5))
        case = await case_when(handle, lambda c: "rapid_review_signoff"
                               in kinds(c, EventKind.OVERDUE))
        assert "rapid_review_signoff" in kinds(case, EventKind.REMINDER)
        assert case.step(Step.RAPID_REVIEW_SIGNOFF).status is StepStatus.OVERDUE

        # The submission is refused while the DSPs have not all signed.
        await signal(handle, "agency_requests", agencies=["Council"])
        await signal(handle, "agency_reports", agency="Council")
        await signal(handle, "rapid_review_meeting", recommendations=["Share the learning"],
                     outcome="no_further_review", rationale="Learning shared")
        await signal(handle, "rapid_review_report")
        await signal(handle, "rapid_review_submission")
        case = await case_when(handle, lambda c: any(
            e.kind is EventKind.SIGNAL_REJECTED and e.step is Step.RAPID_REVIEW_SUBMISSION
            for e in c.events))
        assert "the DSPs have not all signed the report off" in next(
            e.detail for e in case.events if e.kind is EventKind.SIGNAL_REJECTED)
        assert case.step(Step.RAPID_REVIEW_SUBMISSION).completion is None

        # Weeks later the wellbeing sessions are still not overdue, and are recorded.
        await travel_to(time_env, at_london(signoff.due_date + timedelta(weeks=6), 10))
        case = await case_when(handle, lambda c: c.stage is Stage.RAPID_REVIEW)
        assert "wellbeing_sessions" not in kinds(case, EventKind.OVERDUE)
        assert "wellbeing_sessions" not in kinds(case, EventKind.REMINDER)
        await signal(handle, "wellbeing_sessions", relevant=False)
        for partner in PARTNERS:
            await signal(handle, "rapid_review_signoff", partner=partner)
        await signal(handle, "rapid_review_submission")
        case = await case_when(handle, lambda c: c.step(Step.RAPID_REVIEW_SUBMISSION)
                               .completion is not None)
        assert case.step(Step.RAPID_REVIEW_SIGNOFF).status is StepStatus.DONE_LATE
        assert case.step(Step.WELLBEING_SESSIONS).status is StepStatus.NOT_REQUIRED  # not relevant
        await handle.terminate("test over")


async def test_panel_notification_counts_from_awareness_and_is_taken_during_a_dispute(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """Issue 9, item 6 (procedure nl-cspr-2025-06-r4): "The local authority should notify the
    Child Safeguarding Practice Review Panel within 5 working days of becoming aware of the
    incident". The statutory R+5 counts from `la_aware_at` (earlier than receipt), the local
    steps from receipt; and the duty does not wait for the DSPs to agree: `panel_notification`
    is recorded while the case is at `difference_of_opinion`."""
    # r4's rule, kept by every version after it (r5 adds the partners' decision after the
    # Panel's answer: tests/test_panel_response.py).
    assert CURRENT_PROCEDURE.spec(Step.PANEL_NOTIFICATION) \
        == NL_CSPR_2025_06_R4.spec(Step.PANEL_NOTIFICATION)
    assert CURRENT_PROCEDURE.panel_notification_in_dispute
    now = (await time_env.get_current_time()).astimezone(LONDON).date()
    monday = now + timedelta(days=7 - now.weekday())
    while not all(CALENDAR.is_working_day(monday + timedelta(days=d)) for d in range(5)):
        monday += timedelta(days=7)
    aware = CALENDAR.add_working_days(monday, -2)
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        handle = await start_case(time_env.client, worker.task_queue,
                                  f"CSPR-2027-R4{uuid.uuid4().hex[:6].upper()}",
                                  await time_env.get_current_time(),
                                  la_aware_at=at_london(aware, 15),
                                  incident={"date": aware - timedelta(days=1),
                                            "harm": "serious_harm",
                                            "abuse_or_neglect": "suspected"})
        case = await case_when(handle, lambda c: Clock.LA_AWARE in c.clock_dates
                               and Clock.RECEIVED in c.clock_dates)
        assert case.clock_dates[Clock.LA_AWARE] == aware
        panel = case.step(Step.PANEL_NOTIFICATION)
        assert panel.due_date == CALENDAR.add_working_days(aware, 5)
        assert panel.statutory
        assert case.step(Step.INFORM_PARTNERS).due_date == CALENDAR.add_working_days(monday, 1)
        assert case.step(Step.DSP_DECISION).due_date == CALENDAR.add_working_days(monday, 4)

        await signal(handle, "inform_partners")
        await signal(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Criteria met")
        await signal(handle, "dsp_decision", partner="local_authority", criteria_met=True,
                     rationale="Met")
        await signal(handle, "dsp_decision", partner="health", criteria_met=True,
                     rationale="Met")
        await signal(handle, "dsp_decision", partner="police", criteria_met=False,
                     rationale="Not met")
        await case_when(handle, lambda c: c.stage is Stage.DIFFERENCE_OF_OPINION)
        notified = await time_env.get_current_time()
        await signal(handle, "panel_notification", reference="CSPN-R4", notified_at=notified)
        case = await case_when(handle, lambda c: c.step(Step.PANEL_NOTIFICATION).completion
                               is not None and Clock.PANEL_NOTIFIED in c.clock_dates)
        assert case.stage is Stage.DIFFERENCE_OF_OPINION
        assert Clock.PANEL_NOTIFIED in case.clock_dates
        assert not any(e.kind is EventKind.SIGNAL_REJECTED for e in case.events)
        await handle.terminate("test over")


async def test_the_panel_is_told_at_once_and_gets_the_reviewers_name_once_commissioned(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """Issue 9, item 3 (procedure r4): "As soon as the safeguarding partners have determined
    that a local review will be carried out, they should inform the Panel, Ofsted and DfE,
    including the name of any reviewer they have commissioned." The notice goes without a
    name; the reviewer's details then go as a record of their own, due five working days after
    the commissioning (the service's own target), reminded and escalated until recorded."""
    client = time_env.client
    now = (await time_env.get_current_time()).astimezone(LONDON).date()
    big_l = now + timedelta(days=7 - now.weekday())
    await travel_to(time_env, at_london(big_l, 10))
    cid = review_case_id()
    await store_case(sessions, cid, at_london(big_l, 9))
    async with review_worker(client, sessions, StandInActionPlan) as worker:
        handle = await start_review(client, worker.task_queue, cid, big_l)
        await review_when(handle, lambda r: r.clock_l is not None and bool(r.next_deadline()))
        send = by_signal(handle)
        await send("reviewer_to_panel", reviewer_name="A. Reviewer")  # refused: not owed
        await send("inform_panel")  # no reviewer yet: not refused
        review = await review_when(handle, lambda r: r.owes_reviewer_details())
        assert review.task(LocalReviewStep.INFORM_PANEL).completion is not None
        assert review.task(LocalReviewStep.REVIEWER_TO_PANEL).due_date is None
        rejected = [e for e in review.events if e.kind is EventKind.SIGNAL_REJECTED]
        assert len(rejected) == 1
        assert "the Panel was given the reviewer's name" in rejected[0].detail

        await to_review(send)  # the terms of reference endorsed, the reviewer commissioned
        review = await review_when(handle, lambda r: r.task(
            LocalReviewStep.REVIEWER_TO_PANEL).due_date is not None)
        commissioned = review.task(LocalReviewStep.REVIEWER_COMMISSIONED).completion
        assert commissioned is not None
        due = review.task(LocalReviewStep.REVIEWER_TO_PANEL).due_date
        assert due == CALENDAR.add_working_days(
            commissioned.completed_at.astimezone(LONDON).date(), 5)
        assert due is not None
        await travel_to(time_env, at_london(due + timedelta(days=1), 0, 5))
        review = await review_when(handle, lambda r: any(
            e.kind is EventKind.OVERDUE and e.task == "reviewer_to_panel" for e in r.events))
        assert any(e.kind is EventKind.REMINDER and e.task == "reviewer_to_panel"
                   for e in review.events)
        await send("reviewer_to_panel", reviewer_name="A. Reviewer")
        review = await review_when(handle, lambda r: not r.owes_reviewer_details())
        await handle.terminate("test over")


async def test_not_publishing_waits_for_both_sends(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """Issue 9, item 4 (procedure r4). Where the partners decide not to publish the full report,
    they "send both the full report and the information about improvements to the Panel and
    the Secretary of State": two sends, each its own record; "not published" is refused until
    both have gone."""
    client = time_env.client
    now = (await time_env.get_current_time()).astimezone(LONDON).date()
    big_l = now + timedelta(days=7 - now.weekday())
    await travel_to(time_env, at_london(big_l, 10))
    cid = review_case_id()
    await store_case(sessions, cid, at_london(big_l, 9))
    async with review_worker(client, sessions, StandInActionPlan) as worker:
        handle = await start_review(client, worker.task_queue, cid, big_l)
        await review_when(handle, lambda r: r.clock_l is not None and bool(r.next_deadline()))
        send = by_signal(handle)
        await send("inform_panel", reviewer_name="A. Reviewer")
        await to_review(send)
        await to_publication(send)
        await review_when(handle, lambda r: r.stage.value == "publication")
        await send("report_sent", report="improvements_information")
        published_on = (await time_env.get_current_time()).astimezone(LONDON).date()
        why = {"justification": "Would identify a sibling",
               "improvements_published_on": published_on.isoformat()}
        await send("not_published", **why)
        review = await review_when(handle, lambda r: any(
            e.kind is EventKind.SIGNAL_REJECTED and e.task == "not_published"
            for e in r.events))
        assert "not yet sent to the Panel and the Secretary of State: full report" in next(
            e.detail for e in review.events if e.kind is EventKind.SIGNAL_REJECTED)
        await send("report_sent", report="full_report")
        await travel_to(time_env, at_london(CALENDAR.add_working_days(published_on, 8), 10))
        why["improvements_published_on"] = (await time_env.get_current_time()).astimezone(
            LONDON).date().isoformat()
        await send("not_published", **why)
        for p in PARTNERS:  # the decision is the partners' (issue 9, item 8)
            await send("not_published_agreement", actor=dsp(p), partner=p)
        review = await review_when(handle, lambda r: r.publication_settled)
        sends = [r for r in review.records if r.step == "report_sent"]
        assert [getattr(r, "report", None) for r in sends] == [
            "improvements_information", "full_report"]
        await handle.terminate("test over")

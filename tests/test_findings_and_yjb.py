"""Issue 9: "Communication of the findings to relevant parties after publication, and
submission of the published review to the Youth Justice Board when a YJB notification was part
of the case" (patch "findings-communication"; reviews opened before do not track them)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingDayCalendar, london_date
from domain.case import EventKind, StepStatus
from domain.local_review import LocalReviewState, ReviewStage
from domain.local_review_records import LocalReviewStep
from store.db import Sessionmaker
from tests.action_plan_stand_in import StandInActionPlan
from tests.local_reviews import (
    by_signal,
    review_from_monday,
    review_when,
    to_publication,
    to_review,
)
from tests.scenarios import at_london, travel_to
from workflows.ids import action_plan_id

S = LocalReviewStep
CAL = WorkingDayCalendar()


def alerted(review: LocalReviewState, step: LocalReviewStep) -> list[EventKind]:
    return [e.kind for e in review.events if e.task == step.value
            and e.kind in (EventKind.REMINDER, EventKind.OVERDUE)]


async def test_findings_and_the_yjb_submission_are_due_after_publication(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"Communication of the findings and identified improvements disseminated to relevant
    parties" (due on the service's own target, reminded and escalated), and "all published
    reviews of any relevant notified serious incidents be submitted to the YJB ... at the point
    of completion/publication" (the action plan runs meanwhile: its sign-off comes months
    later)."""
    client = time_env.client
    async with review_from_monday(time_env, sessions, yjb_notified=True) as (handle, review, big_l):
        cid = review.case_id
        assert review.findings_due
        assert review.yjb_notified
        send = by_signal(handle)
        await send("inform_panel", reviewer_name="A. Reviewer")
        await to_review(send)
        await to_publication(send)
        await send("findings_communicated", parties=["Schools"], communicated_on=big_l.isoformat(),
                   method="Briefing")  # refused: nothing is published yet
        await send("report_sent")
        published = CAL.add_working_days(london_date(await time_env.get_current_time()), 8)
        await travel_to(time_env, at_london(published, 10))
        await send("published", published_on=published.isoformat())
        review = await review_when(handle, lambda r: r.publication_settled)
        findings, yjb = review.task(S.FINDINGS_COMMUNICATED), review.task(S.YJB_SUBMISSION)
        assert findings.due_date == CAL.add_working_days(published, 10)
        assert "service's own target" in (findings.due.basis if findings.due else "")
        assert yjb.due_date == published
        assert not findings.statutory
        assert not yjb.statutory

        await travel_to(time_env, at_london(CAL.add_working_days(published, 11), 10))
        review = await review_when(handle, lambda r: r.task(
            S.FINDINGS_COMMUNICATED).status is StepStatus.OVERDUE)
        assert EventKind.OVERDUE in alerted(review, S.FINDINGS_COMMUNICATED)
        assert EventKind.OVERDUE in alerted(review, S.YJB_SUBMISSION)
        today = london_date(await time_env.get_current_time()).isoformat()
        await send("yjb_submission", submitted_on=today)
        await send("findings_communicated", parties=["Schools", "GP practices"],
                   communicated_on=today, method="Seven-minute briefing")
        review = await review_when(handle, lambda r: r.task(
            S.FINDINGS_COMMUNICATED).completion is not None)
        assert review.task(S.FINDINGS_COMMUNICATED).status is StepStatus.DONE_LATE
        assert review.task(S.YJB_SUBMISSION).status is StepStatus.DONE_LATE
        rejected = [e for e in review.events if e.kind is EventKind.SIGNAL_REJECTED]
        assert [e.task for e in rejected] == ["findings_communicated"]
        plan = client.get_workflow_handle(action_plan_id(cid))
        await plan.signal(StandInActionPlan.board_signoff, published + timedelta(days=90))
        review = await review_when(handle, lambda r: r.completed)
        assert review.stage is ReviewStage.COMPLETED


async def test_without_a_yjb_notification_nothing_goes_to_the_yjb(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """The YJB "does not require the submission of any internally produced learning reviews,
    only those that are published" and of notified incidents: no YJB task otherwise."""
    async with review_from_monday(time_env, sessions) as (handle, review, big_l):
        send = by_signal(handle)
        await send("inform_panel", reviewer_name="A. Reviewer")
        await to_review(send)
        await to_publication(send)
        await send("report_sent")
        published = CAL.add_working_days(london_date(await time_env.get_current_time()), 8)
        await travel_to(time_env, at_london(published, 10))
        await send("published", published_on=published.isoformat())
        review = await review_when(handle, lambda r: r.publication_settled)
        assert review.task(S.FINDINGS_COMMUNICATED).due_date is not None
        assert all(t.step is not S.YJB_SUBMISSION for t in review.tasks)
        await handle.terminate("test over")

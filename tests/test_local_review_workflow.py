"""The LCSPR workflow under the time-skipping server: supervision intervals, an overdue
progress return escalated, a late publication, the action plan child, and Flowchart 4.

Records go in as signals (Updates are unreliable on the time-skipping server; the API tests
drive them on the dev server). The ActionPlan is mostly a stand-in signed off when signalled;
the last test runs the real one.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingDayCalendar, add_calendar_months, london_date
from domain.case import Channel, EventKind, StepStatus
from domain.local_review import LocalReviewState, ReviewEvent, ReviewStage
from domain.local_review_records import LocalReviewStep
from domain.reviews import LocalReviewResult, ReviewKind
from store.db import Sessionmaker
from store.models import AuditEvent, CasePart
from tests.action_plan_stand_in import StandInActionPlan
from tests.action_plans import message as plan_message
from tests.local_reviews import (
    CONSENT,
    REPORT,
    REVIEWER,
    TERMS,
    Handle,
    by_signal,
    dsp,
    message,
    review_case_id,
    review_when,
    review_worker,
    start_review,
    store_case,
    to_publication,
    to_review,
)
from tests.scenarios import at_london, travel_to
from workflows import search_attributes as sa
from workflows.action_plan import ActionPlanWorkflow
from workflows.ids import action_plan_id
from workflows.local_review import LocalReviewWorkflow

S = LocalReviewStep
CAL = WorkingDayCalendar()


def next_monday(after: date) -> date:
    day = after + timedelta(days=7)
    return day + timedelta(days=-day.weekday())


def alerts(review: LocalReviewState, kind: EventKind) -> list[str]:
    return [e.task for e in review.events if e.kind is kind and e.task]


async def opened(handle: Handle) -> LocalReviewState:
    return await review_when(handle, lambda r: r.clock_l is not None and bool(r.next_deadline()))


async def attributes(handle: Handle) -> tuple[str | None, bool | None]:
    """The stage and overdue attributes, once the workflow task that upserts them has completed
    (a query can already see the state it set while that task is still being committed)."""
    for _ in range(100):
        found = (await handle.describe()).typed_search_attributes
        if found.get(sa.STAGE) is not None:
            break
        await asyncio.sleep(0.1)
    return found.get(sa.STAGE), found.get(sa.OVERDUE)


async def attributes_when(
    handle: Handle, expected: tuple[str, bool], within: float = 30.0
) -> tuple[str | None, bool | None]:
    """The search attributes once they are `expected`: the workflow publishes them after its
    projection activity, so a query can see the state before they are upserted (under load)."""
    deadline = asyncio.get_running_loop().time() + within
    while (found := await attributes(handle)) != expected:
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    return found


async def test_a_whole_lcspr_with_supervision_a_late_publication_and_the_action_plan(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    client = time_env.client
    big_l = next_monday((await time_env.get_current_time()).date())
    await travel_to(time_env, at_london(big_l, 10))
    cid = review_case_id()
    await store_case(sessions, cid, at_london(big_l, 9))
    async with review_worker(client, sessions, StandInActionPlan) as worker:
        handle = await start_review(client, worker.task_queue, cid, big_l)
        review = await opened(handle)
        assert review.clock_l == big_l
        inform = review.task(S.INFORM_PANEL)
        assert (inform.due_date, inform.statutory) == (CAL.add_working_days(big_l, 5), False)
        statutory = add_calendar_months(big_l, 6)
        assert review.task(S.PUBLISHED).due_date == statutory
        opening = ("local_review:terms_of_reference", False)
        assert await attributes_when(handle, opening) == opening

        send = by_signal(handle)
        await send("inform_panel", reviewer_name="A. Reviewer")
        await to_review(send)
        review = await review_when(handle, lambda r: r.stage is ReviewStage.REVIEW)
        first = review.task(S.SUPERVISION_REQUEST, 1)
        assert first.due_date == CAL.add_working_days(big_l, 20)  # every four weeks

        # The group's written request, on time; the reviewer's return is due ten working
        # days later, reminded the day before and escalated when it passes.
        assert first.due_date is not None
        await travel_to(time_env, at_london(first.due_date, 10))
        await send("supervision_request", request="Progress against the terms of reference")
        review = await review_when(handle, lambda r: r.find(S.PROGRESS_RETURN, 1) is not None
                                   and r.task(S.PROGRESS_RETURN, 1).due_date is not None)
        reply_due = review.task(S.PROGRESS_RETURN, 1).due_date
        assert reply_due == CAL.add_working_days(first.due_date, 10)
        assert review.task(S.SUPERVISION_REQUEST, 2).due_date == CAL.add_working_days(
            first.due_date, 20)
        assert reply_due is not None
        await travel_to(time_env, at_london(reply_due + timedelta(days=1), 0, 1))
        review = await review_when(handle, lambda r: "progress_return#1" in alerts(
            r, EventKind.OVERDUE))
        assert "progress_return#1" in alerts(review, EventKind.REMINDER)
        assert review.task(S.PROGRESS_RETURN, 1).status is StepStatus.OVERDUE
        assert await attributes_when(handle, ("local_review:review", True)) == (
            "local_review:review", True)
        await send("progress_return", request=1, progress="Chronologies merged late")
        review = await review_when(handle, lambda r: not r.overdue)
        assert review.task(S.PROGRESS_RETURN, 1).status is StepStatus.DONE_LATE

        # A criminal trial will delay publication past the statutory six months.
        expected = add_calendar_months(big_l, 7)
        await send("publication_delayed", reasons="Criminal trial listed",
                   new_expected_date=expected.isoformat())
        await send("learning", learning="Referrals by phone", corrective_action="In writing")
        await to_publication(send)
        review = await review_when(handle, lambda r: r.stage is ReviewStage.PUBLICATION
                                   and r.action_plan.workflow_id is not None)
        assert review.expected_publication == expected
        assert review.task(S.PROGRESS_RETURN, 1).status is StepStatus.DONE_LATE
        plan = client.get_workflow_handle(action_plan_id(cid))
        assert await plan.query(StandInActionPlan.recommendations) == REPORT[
            "improvements_summary"]

        await send("report_sent")
        while CAL.add_working_days(expected, -7) < (await time_env.get_current_time()).date():
            expected += timedelta(days=7)
        await send("publication_planned", publication_date=expected.isoformat())
        review = await review_when(handle, lambda r: r.planned_publication == expected)
        assert f"after the statutory deadline {statutory}" in review.events[-1].detail

        # The statutory date passes: the step is overdue and escalated; the review waits.
        await travel_to(time_env, at_london(statutory + timedelta(days=1), 0, 1))
        review = await review_when(handle, lambda r: "published" in alerts(r, EventKind.OVERDUE))
        assert review.task(S.PUBLISHED).status is StepStatus.OVERDUE
        assert review.stage is ReviewStage.PUBLICATION

        await travel_to(time_env, at_london(expected, 10))
        await send("published", published_on=expected.isoformat())
        review = await review_when(handle, lambda r: r.stage is ReviewStage.ACTION_PLAN
                                   and r.earliest_removal is not None)
        assert review.task(S.PUBLISHED).status is StepStatus.DONE_LATE
        assert review.earliest_removal == add_calendar_months(expected, 12)

        # Completed only when the action plan is signed off at the Board.
        await plan.signal(StandInActionPlan.board_signoff, expected + timedelta(days=90))
        result = await handle.result()
        assert result == LocalReviewResult(case_id=cid, published=True,
                                           action_plan_signed_off_on=expected
                                           + timedelta(days=90))

    async with sessions() as s:
        part = await s.get(CasePart, (cid, "local_review"))
        trail = list(await s.scalars(select(AuditEvent).where(
            AuditEvent.case_id == cid, AuditEvent.part == "local_review")))
    assert part is not None
    assert (part.stage, part.overdue) == ("completed", False)
    assert part.snapshot["earliest_removal"] == review.earliest_removal.isoformat()
    escalated = [e.detail for e in trail if e.kind == "overdue"]
    assert any(d.startswith("progress_return#1 ") for d in escalated)
    assert any(d.startswith("published statutory") for d in escalated)
    assert "Criminal trial" not in " ".join(e.detail for e in trail)
    assert {e.actor_organisation for e in trail if e.actor_role == "dsp"} == {
        "local_authority", "health", "police"}


async def test_a_flowchart_4_review_sends_nothing_to_the_panel(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    client = time_env.client
    big_l = next_monday((await time_env.get_current_time()).date())
    await travel_to(time_env, at_london(big_l, 10))
    cid = review_case_id()
    await store_case(sessions, cid, at_london(big_l, 9))
    async with review_worker(client, sessions, StandInActionPlan) as worker:
        handle = await start_review(client, worker.task_queue, cid, big_l, ReviewKind.REQUEST,
                                    supervision_every_weeks=2)
        review = await opened(handle)
        assert review.task(S.INFORM_PANEL).status is StepStatus.NOT_REQUIRED
        assert review.task(S.REPORT_SENT).status is StepStatus.NOT_REQUIRED
        assert not review.task(S.PUBLISHED).statutory
        send = by_signal(handle)
        await send("inform_panel", reviewer_name="A. Reviewer")
        # A DSP endorsing for another partner is refused, like the API would (the family's
        # consent first: Flowchart 4).
        await send("consent", **CONSENT)
        await send("terms_of_reference", **TERMS)
        await send("tor_endorsement", actor=dsp("health"), partner="police")
        review = await handle.query(LocalReviewWorkflow.review)
        rejected = [e for e in review.events if e.kind is EventKind.SIGNAL_REJECTED]
        assert [(e.task, e.channel) for e in rejected] == [
            ("inform_panel", Channel.SIGNAL), ("tor_endorsement", Channel.SIGNAL)]
        assert "sends nothing to the Panel" in rejected[0].detail
        assert "not permitted" in rejected[1].detail
        assert review.task(S.TOR_ENDORSEMENT).parts == []

        await to_review(send)
        review = await review_when(handle, lambda r: r.stage is ReviewStage.REVIEW)
        assert review.task(S.SUPERVISION_REQUEST, 1).due_date == CAL.add_working_days(big_l, 10)
        await to_publication(send)
        await review_when(handle, lambda r: r.stage is ReviewStage.PUBLICATION)
        await send("not_published")  # at the partners' discretion: no justification needed
        for p in ("local_authority", "health", "police"):  # each partner agrees (item 8)
            await send("not_published_agreement", actor=dsp(p), partner=p)
        plan = client.get_workflow_handle(action_plan_id(cid))
        await plan.signal(StandInActionPlan.board_signoff, big_l + timedelta(days=120))
        result = await handle.result()
        assert result == LocalReviewResult(case_id=cid, published=None,
                                           action_plan_signed_off_on=big_l
                                           + timedelta(days=120))
        review = await handle.query(LocalReviewWorkflow.review)
        assert review.stage is ReviewStage.COMPLETED


async def test_the_action_plan_is_abandoned_not_ended_when_the_lcspr_closes(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    """ABANDON: terminating the LCSPR (an operator repairing it) leaves its action plan
    running; and a plan that ends without the Board's sign-off is escalated, not waited for."""
    client = time_env.client
    big_l = next_monday((await time_env.get_current_time()).date())
    await travel_to(time_env, at_london(big_l, 10))
    first, second = review_case_id(), review_case_id()
    async with review_worker(client, sessions, StandInActionPlan) as worker:
        handles = []
        for cid in (first, second):
            await store_case(sessions, cid, at_london(big_l, 9))
            handle = await start_review(client, worker.task_queue, cid, big_l,
                                        ReviewKind.REQUEST)
            await opened(handle)
            send = by_signal(handle)
            await to_review(send, request=True)
            await to_publication(send)
            await review_when(handle, lambda r: r.action_plan.workflow_id is not None)
            handles.append(handle)

        await handles[0].terminate("operator repair")
        plan = client.get_workflow_handle(action_plan_id(first))
        assert (await plan.describe()).status is WorkflowExecutionStatus.RUNNING
        assert (await handles[0].describe()).status is WorkflowExecutionStatus.TERMINATED

        await client.get_workflow_handle(action_plan_id(second)).signal(StandInActionPlan.give_up)
        review = await review_when(handles[1], lambda r: r.action_plan.ended_without_sign_off)
        assert review.stage is ReviewStage.PUBLICATION  # publication is still to settle
        assert "action plan ended without sign-off" in alerts_detail(review)
        await by_signal(handles[1])("published", published_on=big_l.isoformat())
        result = await handles[1].result()
        assert result == LocalReviewResult(case_id=second, published=True,
                                           action_plan_signed_off_on=None)
        await plan.terminate("test over")


async def test_records_out_of_turn_are_rejected_and_the_reviewer_refused_a_conflict(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    client = time_env.client
    big_l = next_monday((await time_env.get_current_time()).date())
    await travel_to(time_env, at_london(big_l, 10))
    cid = review_case_id()
    await store_case(sessions, cid, at_london(big_l, 9))
    async with review_worker(client, sessions, StandInActionPlan) as worker:
        handle = await start_review(client, worker.task_queue, cid, None,
                                    decided_at=at_london(big_l, 8))
        await opened(handle)
        await handle.signal("record", message("final_report", **REPORT))
        await handle.signal("record", message("reviewer_commissioned",
                                              **{**REVIEWER, "no_direct_involvement": False}))
        await handle.signal("record", message("terms_of_reference",
                                              **{**TERMS, "race_racism_bias": " "}))
        review = await review_when(handle, lambda r: len(alerts_of(r)) == 3)
        assert [e.detail for e in alerts_of(review)] == [
            "final_report: not open at stage terms_of_reference",
            "no_direct_involvement: a reviewer with direct involvement in the case cannot be "
            "commissioned (the service's own rule; the procedure asks that consideration be "
            "given)",
            "race_racism_bias: the terms of reference must explicitly consider race, racism and "
            "bias",
        ]
        assert review.records == []
        assert review.clock_l == big_l
        await handle.terminate("test over")


def alerts_of(review: LocalReviewState) -> list[ReviewEvent]:
    return [e for e in review.events if e.kind is EventKind.SIGNAL_REJECTED]


def alerts_detail(review: LocalReviewState) -> str:
    return " ".join(e.detail for e in review.events)



async def test_with_the_real_action_plan_the_review_completes_at_the_boards_sign_off(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    client = time_env.client
    big_l = next_monday((await time_env.get_current_time()).date())
    await travel_to(time_env, at_london(big_l, 10))
    cid = review_case_id()
    await store_case(sessions, cid, at_london(big_l, 9))
    async with review_worker(client, sessions, ActionPlanWorkflow) as worker:
        handle = await start_review(client, worker.task_queue, cid, big_l, ReviewKind.REQUEST)
        await opened(handle)
        send = by_signal(handle)
        await to_review(send, request=True)
        await to_publication(send)
        await send("published", published_on=big_l.isoformat())
        review = await review_when(handle, lambda r: r.stage is ReviewStage.ACTION_PLAN)
        assert review.published_on == big_l

        plan = client.get_workflow_handle(action_plan_id(cid))
        due = (big_l + timedelta(days=60)).isoformat()
        for n, what in enumerate(REPORT["improvements_summary"], start=1):
            await plan.signal("record", plan_message("add_action", recommendation=n,
                                                     what=what, owner="NHS Trust",
                                                     due_date=due))
        for n in (1, 2):
            await plan.signal("record", plan_message("complete_action", action_id=f"A{n}",
                                                     evidence="Done"))
        await plan.signal("record", plan_message("no_equality_action", reason="None bears"))
        for partner in ("local_authority", "health", "police"):
            await plan.signal("record", plan_message("board_signoff", partner=partner))
        result = await handle.result()
        signed_off = london_date(await time_env.get_current_time())
        assert result == LocalReviewResult(case_id=cid, published=True,
                                           action_plan_signed_off_on=signed_off)

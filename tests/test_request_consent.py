"""Issue 9, "Consent for a Flowchart 4 review": "Where reviews are undertaken in cases which are
not 'serious child safeguarding cases' then consent to complete the review must be sought";
without it, those undertaking the review "consider ... whether the review should and can
lawfully be carried out without such consent ... and the Data Protection Act requirements"
(patch "request-consent": reviews opened before are not held)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain.case import EventKind, StepStatus
from domain.local_review import LocalReviewState, ReviewStage
from domain.local_review_records import LocalReviewStep
from domain.reviews import ReviewKind
from store.db import Sessionmaker
from tests.action_plan_stand_in import StandInActionPlan
from tests.local_reviews import (
    TERMS,
    by_signal,
    review_case_id,
    review_when,
    review_worker,
    start_review,
    store_case,
    to_review,
)
from tests.scenarios import LONDON, at_london, travel_to
from workflows.local_review import LocalReviewWorkflow

S = LocalReviewStep


def refused(review: LocalReviewState) -> list[tuple[str | None, str]]:
    return [(e.task, e.detail) for e in review.events if e.kind is EventKind.SIGNAL_REJECTED]


async def test_the_terms_of_reference_wait_for_consent_or_the_data_protection_check(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"consent to complete the review must be sought": a Flowchart 4 review's terms of
    reference are refused until the family consents, or the data-protection check finds the
    review lawful without consent; a serious case's review asks no consent."""
    client = time_env.client
    now = (await time_env.get_current_time()).astimezone(LONDON).date()
    big_l = now + timedelta(days=7 - now.weekday())
    await travel_to(time_env, at_london(big_l, 10))
    cid, serious = review_case_id(), review_case_id()
    for case_id in (cid, serious):
        await store_case(sessions, case_id, at_london(big_l, 9))
    asked = {"sought_from": "The child's mother", "sought_on": big_l.isoformat()}
    async with review_worker(client, sessions, StandInActionPlan) as worker:
        handle = await start_review(client, worker.task_queue, cid, big_l, ReviewKind.REQUEST)
        review = await review_when(handle, lambda r: r.clock_l is not None)
        assert review.consent_required
        assert review.task(S.CONSENT).status is StepStatus.PENDING
        send = by_signal(handle)
        await send("terms_of_reference", **TERMS)
        await send("consent", **asked, given=False)  # no check: refused naming it
        await send("consent", **asked, given=False, data_protection_check="Sharing needs "
                   "consent here", lawful_without_consent=False)
        await send("terms_of_reference", **TERMS)
        review = await handle.query(LocalReviewWorkflow.review)
        assert [t for t, _ in refused(review)] == ["terms_of_reference", "consent",
                                                   "terms_of_reference"]
        assert "consent to complete the review must be sought" in refused(review)[0][1]
        assert refused(review)[1][1].startswith("data_protection_check: required")
        assert review.task(S.CONSENT).status is StepStatus.PENDING
        assert review.task(S.TERMS_OF_REFERENCE).completion is None

        await send("consent", **asked, given=False,
                   data_protection_check="The purposes are learning; the partners' powers "
                   "under Working Together; sharing is necessary and proportionate",
                   lawful_without_consent=True)
        review = await handle.query(LocalReviewWorkflow.review)
        assert review.task(S.CONSENT).status is StepStatus.DONE
        await to_review(send)
        review = await review_when(handle, lambda r: r.stage is ReviewStage.REVIEW)
        await handle.terminate("test over")

        other = await start_review(client, worker.task_queue, serious, big_l)
        review = await review_when(other, lambda r: r.clock_l is not None)
        assert not review.consent_required
        assert all(t.step is not S.CONSENT for t in review.tasks)
        await by_signal(other)("consent", **asked, given=True)
        review = await other.query(LocalReviewWorkflow.review)
        assert "Flowchart 4 review only" in refused(review)[0][1]
        await other.terminate("test over")

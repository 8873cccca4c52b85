"""Issue 9, item 8: the decision not to publish is the safeguarding partners', not the MARS
team's alone. Each partner records its agreement (as with the endorsements); "not published"
takes effect only when all three have agreed, and (as before) both sends have gone."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain.case import EventKind, StepStatus
from domain.local_review import LocalReviewState, ReviewStage
from domain.local_review_records import LocalReviewStep
from store.db import Sessionmaker
from tests.local_reviews import (
    PARTNERS,
    by_signal,
    dsp,
    review_from_monday,
    review_when,
    to_publication,
    to_review,
)
from tests.scenarios import LONDON, at_london, travel_to
from workflows.local_review import LocalReviewWorkflow

S = LocalReviewStep


def rejected(review: LocalReviewState, step: str) -> list[str]:
    return [e.detail for e in review.events
            if e.kind is EventKind.SIGNAL_REJECTED and e.task == step]


async def test_not_published_takes_effect_only_when_every_partner_has_agreed(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"Safeguarding partners must publish the report, unless they consider it inappropriate
    to do so": the MARS team records the decision and its justification, each partner's DSP
    agrees for its own partner only, and publication is settled by the third agreement."""
    async with review_from_monday(time_env, sessions) as (handle, review, big_l):
        assert review.partners_agree_not_publishing
        send = by_signal(handle)
        await send("inform_panel", reviewer_name="A. Reviewer")
        await to_review(send)
        await to_publication(send)
        await review_when(handle, lambda r: r.stage is ReviewStage.PUBLICATION)
        # Nothing to agree to before the decision is recorded.
        await send("not_published_agreement", actor=dsp("health"), partner="health")
        review = await handle.query(LocalReviewWorkflow.review)
        assert "no decision not to publish awaits" in rejected(
            review, "not_published_agreement")[0]
        await send("report_sent", report="full_report")
        await send("report_sent", report="improvements_information")
        later = (await time_env.get_current_time()).astimezone(LONDON).date() + timedelta(
            days=14)
        await travel_to(time_env, at_london(later, 10))
        await send("not_published", justification="Would identify a sibling",
                   improvements_published_on=later.isoformat())
        review = await handle.query(LocalReviewWorkflow.review)
        assert not review.publication_settled
        assert review.improvements_published_on is None
        assert review.task(S.NOT_PUBLISHED_AGREEMENT).status is StepStatus.PENDING
        # A DSP agreeing for another partner is refused, like the API would.
        await send("not_published_agreement", actor=dsp("health"), partner="police")
        review = await handle.query(LocalReviewWorkflow.review)
        assert any("not permitted" in d for d in rejected(review, "not_published_agreement"))
        for p in PARTNERS[:2]:
            await send("not_published_agreement", actor=dsp(p), partner=p)
        review = await handle.query(LocalReviewWorkflow.review)
        assert not review.publication_settled
        assert review.stage is ReviewStage.PUBLICATION
        # The same partner twice does not make a third.
        await send("not_published_agreement", actor=dsp("health"), partner="health")
        review = await handle.query(LocalReviewWorkflow.review)
        assert any("already recorded for health" in d
                   for d in rejected(review, "not_published_agreement"))
        assert not review.publication_settled
        await send("not_published_agreement", actor=dsp("police"), partner="police")
        review = await review_when(handle, lambda r: r.publication_settled)
        assert review.stage is ReviewStage.ACTION_PLAN
        assert review.improvements_published_on == later
        assert review.published_on is None
        agreement = review.task(S.NOT_PUBLISHED_AGREEMENT)
        assert [p.party for p in agreement.parts] == list(PARTNERS)
        assert agreement.status is StepStatus.DONE
        await handle.terminate("test over")


async def test_publishing_after_all_drops_the_agreement_awaited(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"Must publish the report, unless they consider it inappropriate": partners who do not
    agree leave the report to be published; once published, no agreement is awaited."""
    async with review_from_monday(time_env, sessions) as (handle, review, big_l):
        send = by_signal(handle)
        await send("inform_panel", reviewer_name="A. Reviewer")
        await to_review(send)
        await to_publication(send)
        await review_when(handle, lambda r: r.stage is ReviewStage.PUBLICATION)
        await send("report_sent", report="full_report")
        await send("report_sent", report="improvements_information")
        later = (await time_env.get_current_time()).astimezone(LONDON).date() + timedelta(
            days=14)
        await travel_to(time_env, at_london(later, 10))
        await send("not_published", justification="Would identify a sibling",
                   improvements_published_on=later.isoformat())
        await send("not_published_agreement", actor=dsp("health"), partner="health")
        await send("published", published_on=later.isoformat())
        review = await review_when(handle, lambda r: r.publication_settled)
        assert review.published_on == later
        assert review.task(S.NOT_PUBLISHED_AGREEMENT).status is StepStatus.NOT_REQUIRED
        await handle.terminate("test over")

"""Issue 9: "The final report's analysis includes language barriers and access to culturally
appropriate services, and adultification" (patch "equality-analysis": reviews opened before
are not asked them)."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from domain.case import EventKind
from domain.local_review import ReviewStage
from domain.local_review_records import EVALUATED_SINCE, EqualityAnalysis
from store.db import Sessionmaker
from tests.local_reviews import (
    REPORT,
    by_signal,
    review_from_monday,
    review_when,
    to_review,
)
from workflows.local_review import LocalReviewWorkflow


def test_the_analysis_asks_each_of_them() -> None:
    assert set(EVALUATED_SINCE) <= set(EqualityAnalysis.model_fields)
    # A report of a review opened before them still reads.
    old = {k: "Considered" for k in EqualityAnalysis.model_fields if k not in EVALUATED_SINCE}
    assert EqualityAnalysis.model_validate(old).adultification is None


async def test_a_final_report_without_them_is_refused_naming_each(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"All local reviews should include an intersectional analysis ... Reviewers must assess
    whether race, ethnicity, and culture were considered in professional decision-making, and
    whether any adultification or bias occurred. Language barriers and access to culturally
    appropriate services must also be evaluated.\""""
    async with review_from_monday(time_env, sessions) as (handle, review, big_l):
        assert review.full_equality_analysis
        send = by_signal(handle)
        await to_review(send)
        for missing in EVALUATED_SINCE:
            analysis = {k: v for k, v in REPORT["equality_analysis"].items() if k != missing}
            await send("final_report", **{**REPORT, "equality_analysis": analysis})
        review = await handle.query(LocalReviewWorkflow.review)
        refused = [e.detail for e in review.events if e.kind is EventKind.SIGNAL_REJECTED]
        assert refused == [f"equality_analysis.{m}: Field required" for m in EVALUATED_SINCE]
        assert review.stage is ReviewStage.REVIEW
        await send("final_report", **REPORT)
        review = await review_when(handle, lambda r: r.stage is ReviewStage.ENDORSEMENT)
        report = review.final_report()
        assert report is not None
        assert report.equality_analysis.adultification == "Considered"
        await handle.terminate("test over")

"""A stand-in for the LCSPR child workflow ("LocalReview"), for the parent's tests.

It takes the contract input, projects itself to the case store as the real one does (the part
"local_review"), and returns the contract result when signalled `finish`: what a case does with
its LCSPR is tested without walking a whole review.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_store import PartProjectionInput
    from domain.reviews import LocalReviewInput, LocalReviewResult
    from worker import WORKFLOWS

STAGE = "terms_of_reference"


@workflow.defn(name="LocalReview")
class LocalReviewStandIn:
    @workflow.init
    def __init__(self, input: LocalReviewInput) -> None:
        self._input = input
        self._result: LocalReviewResult | None = None

    @workflow.run
    async def run(self, input: LocalReviewInput) -> LocalReviewResult:
        await workflow.execute_activity(
            "project_part",
            PartProjectionInput(case_id=input.case_id, part="local_review",
                                version=workflow.info().get_current_history_length(),
                                stage=STAGE, overdue=False, next_deadline=None,
                                snapshot={"stand_in": True}, events=[]),
            start_to_close_timeout=timedelta(seconds=30),
        )
        await workflow.wait_condition(lambda: self._result is not None)
        assert self._result is not None
        return self._result

    @workflow.signal
    def finish(self, result: LocalReviewResult) -> None:
        self._result = result

    @workflow.query
    def input(self) -> LocalReviewInput:
        return self._input


def with_stand_in(workflows: Sequence[type] = WORKFLOWS) -> list[type]:
    """The worker's workflows with the stand-in in place of any real LocalReview."""
    real = [w for w in workflows
            if workflow._Definition.must_from_class(w).name != "LocalReview"]
    return [*real, LocalReviewStandIn]

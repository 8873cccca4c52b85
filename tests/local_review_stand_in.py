"""A stand-in for the LCSPR child workflow ("LocalReview"), for the parent's tests.

It takes the contract input, projects itself to the case store as the real one does (the part
"local_review"), and returns the contract result when signalled `finish`: what a case does with
its LCSPR is tested without walking a whole review. Like the real one, it tells its case when it
ends (`local_review_ended`), and ends when its case is withdrawn (`withdraw`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_store import PartProjectionInput
    from domain.reviews import LocalReviewEnded, LocalReviewInput, LocalReviewResult, WithdrawPart
    from worker import WORKFLOWS
    from workflows.continuation import tell_parent

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
        await tell_parent("local_review_ended", LocalReviewEnded(result=self._result))
        return self._result

    @workflow.signal
    def finish(self, result: LocalReviewResult) -> None:
        self._result = result

    @workflow.signal
    def withdraw(self, _: WithdrawPart) -> None:
        self._result = LocalReviewResult(case_id=self._input.case_id, published=None,
                                         action_plan_signed_off_on=None)

    @workflow.query
    def input(self) -> LocalReviewInput:
        return self._input


def with_stand_in(workflows: Sequence[type] = WORKFLOWS) -> list[type]:
    """The worker's workflows with the stand-in in place of any real LocalReview."""
    real = [w for w in workflows
            if workflow._Definition.must_from_class(w).name != "LocalReview"]
    return [*real, LocalReviewStandIn]

"""A stand-in for the ActionPlan workflow in the LCSPR's tests: signed off when signalled (and
then it tells its LCSPR, as the real plan does).

In a module of its own: the sandbox re-imports a workflow's module.
"""

from __future__ import annotations

from datetime import date

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.reviews import ActionPlanInput, ActionPlanResult
    from workflows.continuation import tell_parent


@workflow.defn(name="ActionPlan")
class StandInActionPlan:
    def __init__(self) -> None:
        self._signed_off_on: date | None = None
        self._given_up = False
        self._recommendations: list[str] = []

    @workflow.run
    async def run(self, input: ActionPlanInput) -> ActionPlanResult:
        self._recommendations = list(input.recommendations)
        await workflow.wait_condition(lambda: self._signed_off_on is not None or self._given_up)
        if self._signed_off_on is None:
            raise ApplicationError("the plan was abandoned", non_retryable=True)
        result = ActionPlanResult(case_id=input.case_id, signed_off_on=self._signed_off_on)
        await tell_parent("action_plan_ended", result)  # as the real plan does
        return result

    @workflow.signal
    def board_signoff(self, on: date) -> None:
        self._signed_off_on = on

    @workflow.signal
    def give_up(self) -> None:
        self._given_up = True

    @workflow.query
    def recommendations(self) -> list[str]:
        return self._recommendations

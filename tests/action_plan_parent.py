"""A minimal parent for the action plan's tests: starts it by name, as the LCSPR does, with
a parent-close policy of the test's choosing, and returns its result.

In a module of its own: the sandbox re-imports a workflow's module.
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain.reviews import ActionPlanInput, ActionPlanResult
    from workflows.action_plan import ActionPlanRun
    from workflows.ids import action_plan_id


class ParentInput(BaseModel):
    plan: ActionPlanInput
    policy: str  # a ParentClosePolicy's name
    history_per_run: int | None = None  # to make the plan continue as new sooner


@workflow.defn(name="ActionPlanTestParent")
class ActionPlanTestParent:
    @workflow.run
    async def run(self, input: ParentInput) -> ActionPlanResult:
        plan: ActionPlanInput = input.plan
        if input.history_per_run is not None:
            plan = ActionPlanRun(**plan.model_dump(), history_per_run=input.history_per_run)
        result: ActionPlanResult = await workflow.execute_child_workflow(
            "ActionPlan", plan, id=action_plan_id(plan.case_id), result_type=ActionPlanResult,
            parent_close_policy=ParentClosePolicy[input.policy])
        return result

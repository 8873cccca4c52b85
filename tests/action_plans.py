"""Helpers to start and drive an action plan in tests and in the history recorder."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from domain.action_plan import ActionPlanState
from domain.decisions import Actor, DecisionMessage
from domain.reviews import ActionPlanResult, ReviewKind
from workflows.action_plan import ActionPlanRun
from workflows.ids import action_plan_id

Handle = WorkflowHandle[Any, Any]
# One query's own time limit. The Java time-skipping server can leave a query unanswered when it
# reaches a run in the moment that run continues as new (it hands the query to the old run's last
# workflow task; the worker's answer then finds the run completed: "Task not found when
# completing ... workflow execution already completed"), and the client waits out its default
# timeout of about 30 s: the whole of `plan_when`'s budget. Asked again, the query reaches the
# new run at once.
QUERY_TIMEOUT = timedelta(seconds=5)
RECOMMENDATIONS = ["Joint training on bruising in non-mobile infants",
                   "Confirm every telephone referral in writing"]
PARTNERS = ["local_authority", "health", "police"]


async def start_plan(client: Client, task_queue: str, case_id: str, **fields: Any) -> Handle:
    """Start a case's action plan by name, as its LCSPR does."""
    body: dict[str, Any] = {"case_id": case_id, "kind": ReviewKind.SERIOUS_INCIDENT,
                            "recommendations": RECOMMENDATIONS, **fields}
    return await client.start_workflow("ActionPlan", ActionPlanRun.model_validate(body),
                                       id=action_plan_id(case_id), task_queue=task_queue,
                                       result_type=ActionPlanResult)


def message(step: str, actor: Actor | None = None, **fields: Any) -> DecisionMessage:
    record = {"step": step, **{k: v.isoformat() if isinstance(v, date) else v
                               for k, v in fields.items()}}
    return DecisionMessage(record=record,
                           actor=actor.model_dump() if actor is not None else None)


async def signal(handle: Handle, step: str, actor: Actor | None = None, **fields: Any) -> None:
    await handle.signal("record", message(step, actor, **fields))


def dsp(partner: str) -> Actor:
    """A partner's DSP, as the token names them."""
    return Actor(subject=f"dsp@{partner}.test", role="dsp", organisation=partner)


async def sign_off(handle: Handle, partners: list[str] = PARTNERS) -> None:
    """Each partner's DSP signs the plan off for its partner (the plan closes with the third)."""
    for partner in partners:
        await signal(handle, "board_signoff", dsp(partner), partner=partner)


async def agree_transfer(handle: Handle, to: str, partners: list[str] = PARTNERS) -> None:
    """Each partner's DSP agrees the transfer of oversight for its partner."""
    for partner in partners:
        await signal(handle, "oversight_transfer", dsp(partner), to=to, partner=partner)


async def plan_when(handle: Handle, ready: Callable[[ActionPlanState], bool],
                    within: float = 30.0) -> ActionPlanState:
    """Query the plan until `ready` holds (a signal is applied asynchronously, a child is
    started by its parent)."""
    deadline = asyncio.get_running_loop().time() + within
    stage = "not started"
    while True:
        try:
            plan: ActionPlanState = await handle.query("plan", result_type=ActionPlanState,
                                                       rpc_timeout=QUERY_TIMEOUT)
        except RPCError as e:
            # A child its parent has not started yet; or, on a loaded machine, a query the
            # worker did not answer in the server's time while it replayed a long history.
            # (The client's own RPC timeout answers CANCELLED, the server's DEADLINE_EXCEEDED.)
            if e.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.DEADLINE_EXCEEDED,
                                RPCStatusCode.CANCELLED):
                raise
        else:
            if ready(plan):
                return plan
            stage = plan.stage.value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"plan never became ready; stage={stage}")
        await asyncio.sleep(0.05)


async def runs(client: Client, workflow_id: str, first_run_id: str) -> list[str]:
    """The run ids of a workflow from its first run, following each continue-as-new."""
    chain = [first_run_id]
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=chain[-1]).fetch_history()
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return chain
        chain.append(last.workflow_execution_continued_as_new_event_attributes
                     .new_execution_run_id)

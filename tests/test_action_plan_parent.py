"""The action plan as a child, on the dev server: started by name with `ActionPlanInput`, its
parent-close policy, and a parent waiting for its result across its continue-as-new runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.workflow import ParentClosePolicy

from domain.action_plan import ActionPlanState, PlanStage
from domain.calendar import WorkingDayCalendar
from domain.reviews import ActionPlanInput, ActionPlanResult, ReviewKind
from store.db import Sessionmaker
from store.models import Case
from tests.action_plan_parent import ActionPlanTestParent, ParentInput
from tests.action_plans import RECOMMENDATIONS, plan_when, runs, sign_off, signal
from tests.factories import case_when, start_case
from worker import WORKFLOWS, build_worker
from workflows.action_plan import PARENT_CLOSE_POLICY
from workflows.ids import action_plan_id

DUE = (datetime.now(UTC) + timedelta(days=200)).date()


SESSIONS: Sessionmaker  # the case store the module's worker writes (set by `worker`)


@pytest.fixture(scope="module")
async def worker(dev_env: WorkflowEnvironment, sessions: Sessionmaker) -> AsyncIterator[Worker]:
    global SESSIONS
    SESSIONS = sessions
    async with build_worker(dev_env.client, f"tq-{uuid.uuid4()}", WorkingDayCalendar(),
                            sessions, [*WORKFLOWS, ActionPlanTestParent]) as w:
        yield w


async def stored_case(client: Client, task_queue: str) -> str:
    case_id = f"CSPR-2026-{uuid.uuid4().hex[:8].upper()}"
    handle = await start_case(client, task_queue, case_id, datetime.now(UTC),
                              children=[{"reference": f"PARENT-{uuid.uuid4().hex[:8]}"}])
    await case_when(handle, lambda c: c.clock_dates != {})
    # Its row in the case store first: the plan's projection refers to it, and a plan whose
    # stored copy is refused waits at its sign-off for the store (workflows.projection.catch_up,
    # 15 minutes a try): terminating before the case's own projection made this test hang.
    for _ in range(200):
        async with SESSIONS() as s:
            if await s.get(Case, case_id) is not None:
                break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"{case_id} never reached the case store")
    await handle.terminate("only its stored row is needed")
    return case_id


async def start_parent(client: Client, worker: Worker, policy: ParentClosePolicy,
                       history_per_run: int | None = None) -> tuple[str, object]:
    case_id = await stored_case(client, worker.task_queue)
    parent = await client.start_workflow(
        ActionPlanTestParent.run,
        ParentInput(plan=ActionPlanInput(case_id=case_id, kind=ReviewKind.SERIOUS_INCIDENT,
                                         recommendations=RECOMMENDATIONS[:1]),
                    policy=policy.name, history_per_run=history_per_run),
        id=f"parent-{case_id}", task_queue=worker.task_queue)
    child = client.get_workflow_handle(action_plan_id(case_id))
    await plan_when(child, lambda p: p.next_review.due_date is not None)
    return case_id, parent


def test_the_recommended_policy_is_abandon() -> None:
    assert PARENT_CLOSE_POLICY is ParentClosePolicy.ABANDON


@pytest.mark.parametrize(("policy", "after"), [
    (ParentClosePolicy.ABANDON, WorkflowExecutionStatus.RUNNING),
    (ParentClosePolicy.TERMINATE, WorkflowExecutionStatus.TERMINATED),
])
async def test_what_closing_the_parent_does_to_the_plan(
    dev_env: WorkflowEnvironment, worker: Worker, policy: ParentClosePolicy,
    after: WorkflowExecutionStatus,
) -> None:
    """Why ABANDON: an operator terminating the LCSPR must not end years of monitoring."""
    client = dev_env.client
    case_id, parent = await start_parent(client, worker, policy)
    await client.get_workflow_handle(f"parent-{case_id}").terminate("operator repair")
    child = client.get_workflow_handle(action_plan_id(case_id), result_type=ActionPlanResult)
    for _ in range(600):  # up to 30 s: a start, an activity and a projection under CI load
        status = (await child.describe()).status
        if status is after:
            break
        await asyncio.sleep(0.05)
    assert status is after
    if policy is ParentClosePolicy.ABANDON:
        # The abandoned plan goes on by itself, to its sign-off.
        await signal(child, "add_action", recommendation=1, what="Training", owner="Council",
                     due_date=DUE)
        await signal(child, "complete_action", action_id="A1", evidence="Done")
        await signal(child, "no_equality_action", reason="None bears on inequality")
        await sign_off(child)
        assert (await child.result()).case_id == case_id


async def test_the_parent_gets_the_result_across_the_plans_continue_as_new(
    dev_env: WorkflowEnvironment, worker: Worker
) -> None:
    client = dev_env.client
    case_id, _ = await start_parent(client, worker, PARENT_CLOSE_POLICY, history_per_run=100)
    child = client.get_workflow_handle(action_plan_id(case_id))
    first_run = (await child.describe()).run_id
    # Add actions until the plan has continued as new: how many events a run holds depends on
    # how the server batches signals into tasks, so a fixed count would make this flaky.
    added = 0
    while len(await runs(client, child.id, first_run)) < 2:
        added += 1
        assert added <= 80, "the plan never continued as new"
        await signal(child, "add_action", recommendation=1, what=f"Action {added}",
                     owner="Council", due_date=DUE)
        await plan_when(child, lambda p, n=added: len(p.actions) == n  # type: ignore[misc]
                        and p.actions[-1].due.remind_at is not None)
    for n in range(1, added + 1):
        await signal(child, "complete_action", action_id=f"A{n}", evidence="Done")
    await plan_when(child, lambda p: p.stage is PlanStage.READY_FOR_SIGNOFF)
    await signal(child, "no_equality_action", reason="None bears on inequality")
    await sign_off(child)
    parent = client.get_workflow_handle(f"parent-{case_id}", result_type=ActionPlanResult)
    result = await parent.result()
    assert len(await runs(client, child.id, first_run)) >= 2  # it continued as new
    final: ActionPlanState = await child.query("plan", result_type=ActionPlanState)
    assert result == ActionPlanResult(case_id=case_id, signed_off_on=final.signed_off_on)
    assert len(final.actions) == added

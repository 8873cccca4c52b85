"""An LCSPR whose partner system retries a refused record in a loop continues as new, with a
bounded history and state, while its action plan (ABANDONED) runs on; afterwards the review
still works: its trail in the case store numbered without a gap, the plan's sign-off recorded
from the plan's own signal, the review completed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.local_review import LocalReviewState
from domain.local_review_tasks import ReviewStage
from domain.procedure import CURRENT_PROCEDURE
from domain.reviews import LocalReviewResult, ReviewKind
from domain.trail import EVENTS_KEPT
from store.db import Sessionmaker
from store.models import AuditEvent, CasePart
from tests.action_plan_stand_in import StandInActionPlan
from tests.local_reviews import (
    by_signal,
    message,
    review_case_id,
    review_when,
    review_worker,
    store_case,
    to_publication,
    to_review,
)
from tests.scenarios import at_london, travel_to
from tests.test_continue_as_new import runs
from tests.test_local_review_workflow import next_monday, opened
from workflows.ids import action_plan_id, local_review_id
from workflows.local_review import LocalReviewRun, LocalReviewWorkflow

HISTORY_PER_RUN = 100
MARGIN = 100  # a run goes on to a quiet point past its threshold: the signals then arriving


def has(events: int) -> Callable[[LocalReviewState], bool]:
    return lambda r: r.event_count >= events


async def test_a_refused_record_in_a_loop_continues_the_lcspr_as_new(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    client = time_env.client
    big_l = next_monday((await time_env.get_current_time()).date())
    await travel_to(time_env, at_london(big_l, 10))
    cid = review_case_id()
    await store_case(sessions, cid, at_london(big_l, 9))
    async with review_worker(client, sessions, StandInActionPlan) as worker:
        handle = await client.start_workflow(
            LocalReviewWorkflow.run,
            LocalReviewRun(case_id=cid, kind=ReviewKind.REQUEST, decided_on=big_l,
                           procedure_version=CURRENT_PROCEDURE.version,
                           history_per_run=HISTORY_PER_RUN),
            id=local_review_id(cid), task_queue=worker.task_queue)
        first_run = handle.first_execution_run_id
        assert first_run is not None
        await opened(handle)
        send = by_signal(handle)
        await to_review(send)
        await to_publication(send)
        await send("published", published_on=big_l.isoformat())
        review = await review_when(handle, lambda r: r.stage is ReviewStage.ACTION_PLAN)

        latest = client.get_workflow_handle(local_review_id(cid))
        for n in range(1, 201):
            await latest.signal("record", message("terms_of_reference"))  # long agreed
            if n % 10 == 0:
                await review_when(latest, has(review.event_count + n), within=60)
        review = await review_when(latest, has(review.event_count + 200))
        assert len(review.events) <= EVENTS_KEPT + HISTORY_PER_RUN  # a refusal: 1+ event
        assert review.events_before > 100

        history = await runs(client, local_review_id(cid), first_run)
        print("LCSPR history events and input bytes per run:", history)  # noqa: T201
        assert len(history) >= 3
        assert all(length <= HISTORY_PER_RUN + MARGIN for length, _ in history[1:])
        # The carried state grows until the kept events are full, then no more.
        carried = [size for _, size in history[1:]]
        assert abs(carried[-1] - carried[-2]) < 100
        assert max(carried) <= carried[-1] + 100

        # The plan, started by the first run, runs on; its sign-off reaches the latest run.
        plan = client.get_workflow_handle(action_plan_id(cid))
        assert (await plan.describe()).status is WorkflowExecutionStatus.RUNNING
        await plan.signal(StandInActionPlan.board_signoff, big_l)
        result = await client.get_workflow_handle(
            local_review_id(cid), result_type=LocalReviewResult).result()
        assert result == LocalReviewResult(case_id=cid, published=True,
                                           action_plan_signed_off_on=big_l)
        review = await latest.query(LocalReviewWorkflow.review)
        assert review.completed

        for _ in range(100):
            async with sessions() as s:
                trail = list(await s.scalars(select(AuditEvent.sequence).where(
                    AuditEvent.case_id == cid, AuditEvent.part == "local_review")
                    .order_by(AuditEvent.sequence)))
                part = await s.get(CasePart, (cid, "local_review"))
            if len(trail) >= review.event_count:
                break
            await asyncio.sleep(0.05)
        assert trail == list(range(1, review.event_count + 1))
        assert part is not None
        assert part.version > sum(n for n, _ in history[:-1])

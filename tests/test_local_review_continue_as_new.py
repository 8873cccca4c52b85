"""An LCSPR whose partner system retries a refused record in a loop continues as new, with a
bounded history and state, while its action plan (ABANDONED) runs on; afterwards the review
still works: its trail in the case store numbered without a gap, the plan's sign-off recorded
from the plan's own signal, the review completed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.local_review import LocalReviewState
from domain.local_review_tasks import ReviewStage
from domain.procedure import CURRENT_PROCEDURE
from domain.reviews import LocalReviewResult, ReviewKind
from domain.trail import EVENTS_KEPT
from store.db import Sessionmaker
from store.models import AuditEvent, CasePart
from tests.action_plan_stand_in import StandInActionPlan
from tests.conftest import new_worker
from tests.local_reviews import (
    by_signal,
    message,
    review_case_id,
    store_case,
    to_publication,
    to_review,
)
from tests.scenarios import at_london
from tests.test_continue_as_new import query_until, replay_runs, settled_runs
from tests.test_local_review_workflow import next_monday, opened
from workflows.ids import action_plan_id, local_review_id
from workflows.local_review import LocalReviewRun, LocalReviewWorkflow

HISTORY_PER_RUN = 100
MARGIN = 100  # a run goes on to a quiet point past its threshold: the signals then arriving


async def review_when(handle: WorkflowHandle[Any, Any],
                      ready: Callable[[LocalReviewState], bool],
                      within: float = 30.0) -> LocalReviewState:
    """Query the review until `ready` holds (asked again if the query goes unanswered as the
    run continues as new: `query_until`)."""
    return await query_until(handle, "review", LocalReviewState, ready, within)


def has(events: int) -> Callable[[LocalReviewState], bool]:
    return lambda r: r.event_count >= events


async def test_a_refused_record_in_a_loop_continues_the_lcspr_as_new(
    dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """On the dev server: the time-skipping one can lose a query or a time skip that meets a
    continue-as-new (and then stalls); this test needs no timer."""
    client = dev_env.client
    # Decided a fortnight ago, published today (the dev server's clock is real).
    big_l = next_monday((await dev_env.get_current_time()).date()) - timedelta(days=21)
    cid = review_case_id()
    await store_case(sessions, cid, at_london(big_l, 9))
    # Every activity, e-mail's included (its reminders, past due, go while it continues).
    async with new_worker(client, sessions,
                          workflows=[LocalReviewWorkflow, StandInActionPlan]) as worker:
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
        await to_review(send, request=True)
        await to_publication(send)
        await send("published", published_on=(await dev_env.get_current_time()).date().isoformat())
        review = await review_when(handle, lambda r: r.stage is ReviewStage.ACTION_PLAN)

        latest = client.get_workflow_handle(local_review_id(cid))
        for n in range(1, 201):
            await latest.signal("record", message("terms_of_reference"))  # long agreed
            if n % 10 == 0:
                await review_when(latest, has(review.event_count + n))
        history = await settled_runs(client, local_review_id(cid), first_run,
                                     HISTORY_PER_RUN + MARGIN)
        review = await review_when(latest, has(review.event_count + 200))
        assert len(review.events) <= EVENTS_KEPT + HISTORY_PER_RUN  # a refusal: 1+ event
        assert review.events_before > 100

        print("LCSPR history events and input bytes per run:", history)  # noqa: T201
        assert len(history) >= 3
        assert all(length <= HISTORY_PER_RUN + MARGIN for length, _ in history[1:])
        # The carried state grows until the kept events are full (about 13.6 KB), then no
        # more: 200 refusals kept would be over 30 KB.
        assert max(size for _, size in history[1:]) < 16_000

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
        # Each run's projections went on from the run before's versions (the store refuses a
        # lower one): the stored copy is the completed review.
        assert part.stage == review.stage.value
        assert part.snapshot["events_before"] == review.events_before

    markers = await replay_runs(client, local_review_id(cid), first_run, LocalReviewWorkflow)
    assert {"lcspr-continue-as-new", "lcspr-tells-case"} <= markers

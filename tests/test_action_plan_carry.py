"""An action plan's carried state stays flat over the years (issue 13: "The action plan
continues as new, but the state it carries grows about 3.3 KB a year (the reviews are kept):
carry a bounded summary, keep the full record in the store"; patch "plan-bounded-carry").

Eight years of quarterly reviews on the time-skipping server, a run's history kept to 100
events: each run hands the next only its latest reviews (`KEEP_REVIEWS`), and the case store's
copy of the plan, which the API reads, keeps every review.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain.action_plan import KEEP_REVIEWS, ActionPlanState
from store.db import Sessionmaker
from tests.action_plans import runs, signal, start_plan
from tests.conftest import new_worker
from tests.scenarios import LONDON, at_london, travel_to
from tests.test_action_plan_workflow import next_monday, stored_case, stored_when

YEARS = 8
# A review's progress as a group writes it: a paragraph (the reviews are what grew).
PROGRESS = "Quarter {q}: " + ("actions reviewed with their owners; evidence checked. " * 8).strip()


async def carried_sizes(env: WorkflowEnvironment, workflow_id: str, first_run: str
                        ) -> list[int]:
    """The size of each run's input (its carried plan), in bytes as Temporal holds it."""
    sizes = []
    for run_id in await runs(env.client, workflow_id, first_run):
        history = await env.client.get_workflow_handle(workflow_id, run_id=run_id
                                                       ).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        sizes.append(sum(len(p.data) for p in started.input.payloads))
    return sizes


async def test_the_carried_plan_stays_flat_over_the_years_and_the_store_keeps_every_review(
    time_env: WorkflowEnvironment, sessions: Sessionmaker
) -> None:
    monday = next_monday((await time_env.get_current_time()).astimezone(LONDON).date())
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        case_id = await stored_case(time_env, worker.task_queue)
        handle = await start_plan(time_env.client, worker.task_queue, case_id,
                                  history_per_run=100)
        first_run = handle.first_execution_run_id or handle.result_run_id
        assert first_run is not None
        quarters = 4 * YEARS
        for quarter in range(1, quarters + 1):
            plan = await stored_when(sessions, case_id, lambda p, q=quarter: (  # type: ignore[misc]
                p.review_count == q - 1 and p.next_review.due_date is not None))
            due = plan.next_review.due_date
            assert due is not None
            await travel_to(time_env, at_london(due - timedelta(days=1), 11))
            await signal(handle, "plan_review", progress=PROGRESS.format(q=quarter))

        # The store's copy (what the API reads) has every review, in order.
        stored = await stored_when(sessions, case_id,
                                   lambda p: p.review_count == quarters)
        assert [r.progress for r in stored.reviews] == [
            PROGRESS.format(q=q) for q in range(1, quarters + 1)]
        assert stored.reviews_before == 0

        sizes = await carried_sizes(time_env, handle.id, first_run)
        assert len(sizes) >= 4, sizes  # continued as new several times over the years
        # The first runs carry more as the window of recent events fills; from then on the size
        # is flat, give or take an event's worth. Unbounded, every run carried every review
        # before it: about 650 bytes more for each review here, over 10 KB across these runs.
        settled = sizes[len(sizes) // 2:]
        assert len(settled) >= 4, sizes
        assert max(settled) - min(settled) < 1000, sizes
        final = await handle.query("plan", result_type=ActionPlanState)
        assert final.review_count == quarters
        assert final.reviews_before >= quarters - 2 * KEEP_REVIEWS - 8  # the latest only
        await handle.terminate("test over")

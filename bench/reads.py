"""Benchmark, run by hand: the deadlines view and a case read as the number of open cases
grows (issue 13: "flat in the number of cases").

    .venv/bin/python -m bench.reads [--sizes 1000 10000] [--requests 30] [--lcspr-every 10]

The store is loaded directly (the projection the worker writes, `activities.case_store`), every
case open, received over the last `--years` years, one in `--lcspr-every` with an LCSPR whose
tasks fall due over the year after (its part projected as a child's is). A handful of cases are
also started through the API, so that a case read reaches a real workflow. At each size it
times, through the real API (ASGI) on a Temporal dev server and PostgreSQL:
- GET /v1/deadlines for one week (the MARS team's week), the view's first page;
- GET /v1/cases/{id} of a case started through the API, its workflow in the worker's cache,
  and the same just after the worker restarted (both read from the store's copy since issue
  13; before, a query, which replays a workflow no worker has cached), of a case closed in the
  store whose workflow has ended (Temporal still keeps it), and of an open case whose stored
  copy is known to be behind (a projection owed: its workflow is asked, from its cache);
- GET /v1/cases?limit=50 (newest first) as the baseline: one page of an indexed list, with
  the count of every case; and the list filtered by stage, by overdue, and by a due date
  (migration 0016's indexes; tests/test_case_list_plans.py checks their plans).
It prints p50/p95 and each one's ratio to the baseline at that size, then the growth of each
from the smallest size to the largest (the target: within x1.5).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from httpx import AsyncClient

from activities.case_store import PartProjectionInput, project, project_part
from bench.stack import BenchStack, bench_stack
from bench.workspace import a_case
from domain.case import CaseState, Outcome, Stage
from domain.local_review import LocalReviewState
from domain.procedure import CURRENT_PROCEDURE
from domain.reviews import LocalReviewInput, ReviewKind
from store import owed
from store.models import Case
from tests.test_api import new_case


def review_snapshot(case_id: str, decided: date) -> dict[str, Any]:
    """An LCSPR's snapshot as its workflow projects it, its dates counted from `decided`."""
    review = LocalReviewState.start(
        LocalReviewInput(case_id=case_id, kind=ReviewKind.SERIOUS_INCIDENT,
                         procedure_version=CURRENT_PROCEDURE.version, decided_on=decided),
        datetime.now(UTC))
    review.clock_l = decided
    for n, task in enumerate(review.tasks, start=1):
        if task.due is not None:
            task.due.due_date = decided + timedelta(days=30 * n)
    return review.model_dump(mode="json")


async def load(sessions: Any, start: int, end: int, today: date, per_year: int,
               lcspr_every: int) -> None:
    """Cases start+1..end, every one open; one in `lcspr_every` with an LCSPR."""
    batch = 500
    for first in range(start + 1, end + 1, batch):
        async with sessions.begin() as s:
            for n in range(first, min(first + batch, end + 1)):
                case = a_case(n, today, per_year, open_days=10**6)
                await project(s, case, 1)
                if n % lcspr_every == 0:
                    decided = case.clock_dates[next(iter(case.clock_dates))]
                    await project_part(s, PartProjectionInput(
                        case_id=case.case_id, part="local_review", version=1,
                        stage="terms_of_reference", overdue=False, next_deadline=None,
                        snapshot=review_snapshot(case.case_id, decided), events=[]))


async def closed_case(stack: BenchStack) -> str:
    """A case closed in the store and in Temporal (its workflow ended, still kept by Temporal:
    a query would replay it)."""
    case_id = await new_case(stack.http)
    async with stack.sessions.begin() as s:
        row = await s.get(Case, case_id)
        assert row is not None
        case = CaseState.model_validate(row.snapshot)
        case.stage, case.outcome = Stage.CLOSED, Outcome.NO_FURTHER_REVIEW
        await project(s, case, row.version + 1000)
    await stack.env.client.get_workflow_handle(case_id).terminate("closed for the benchmark")
    return case_id


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


async def timed(http: AsyncClient, path: str, n: int, **params: Any) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        answer = await http.get(path, params=params)
        times.append(time.perf_counter() - start)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
    return times


BASELINE = "GET /v1/cases?limit=50"


async def main(sizes: list[int], requests: int, per_year: int, lcspr_every: int) -> None:
    today = datetime.now(UTC).date()
    results: dict[int, dict[str, list[float]]] = {}
    found: dict[int, int] = {}
    async with bench_stack() as stack:
        http = stack.http
        cached = await new_case(http)
        closed = await closed_case(stack)
        behind = await new_case(http)
        async with stack.sessions.begin() as s:  # as the worker notes a projection not written
            await owed.note(s, {(behind, owed.CASE): 10**9}, datetime.now(UTC))
        stored = 0
        for size in sorted(sizes):
            began = time.perf_counter()
            await load(stack.sessions, stored, size, today, per_year, lcspr_every)
            print(f"loaded {size} cases in {time.perf_counter() - began:.0f} s", flush=True)
            stored = size
            week = {"from": today.isoformat(), "to": (today + timedelta(days=6)).isoformat()}
            for path, params in (("/v1/deadlines", week), ("/v1/cases", {"limit": 50}),
                                 (f"/v1/cases/{cached}", {})):
                await timed(http, path, 3, **params)  # warm
            found[size] = len((await http.get("/v1/deadlines", params=week)).json())
            # Interleaved, one of each in turn: the machine's load (shared with other work)
            # then weighs on each alike, and the ratios to the baseline hold.
            plan: dict[str, tuple[str, dict[str, Any]]] = {
                BASELINE: ("/v1/cases", {"limit": 50}),
                "GET /v1/cases?stage=notified": ("/v1/cases", {"stage": "notified"}),
                "GET /v1/cases?overdue=true": ("/v1/cases", {"overdue": "true"}),
                "GET /v1/cases?due_before=+7d": ("/v1/cases", {"due_before": week["to"]}),
                "GET /v1/deadlines (a week)": ("/v1/deadlines", week),
                "GET /v1/cases/{id} (cached)": (f"/v1/cases/{cached}", {}),
                "GET /v1/cases/{id} (closed)": (f"/v1/cases/{closed}", {}),
                "GET /v1/cases/{id} (copy behind)": (f"/v1/cases/{behind}", {}),
            }
            runs: dict[str, list[float]] = {name: [] for name in plan}
            for _ in range(requests):
                for name, (path, params) in plan.items():
                    runs[name] += await timed(http, path, 1, **params)
            times = []
            for _ in range(max(3, requests // 5)):
                await stack.restart_worker()
                runs[BASELINE] += await timed(http, "/v1/cases", 1, limit=50)
                times += await timed(http, f"/v1/cases/{cached}", 1)
            runs["GET /v1/cases/{id} (not cached)"] = times
            results[size] = runs
    print(f"{requests} requests each; {per_year} cases a year, every one open, one in "
          f"{lcspr_every} with an LCSPR ({stack.store_url.split(':')[0]})")
    for size, runs in results.items():
        _, base95 = percentiles(runs[BASELINE])
        print(f"{size} open cases ({found[size]} deadlines in the week):")
        for name, times in runs.items():
            p50, p95 = percentiles(times)
            print(f"  {name:34} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
                  f"x{p95 / base95:5.1f} the baseline's p95")
    small, large = min(results), max(results)
    if small != large:
        print(f"growth from {small} to {large} open cases (p50; target x1.5 at most), and the "
              "same divided by the baseline's growth (on a machine shared with other work the "
              "load changes between sizes: the baseline's growth is the load's):")
        base = (statistics.median(results[large][BASELINE])
                / statistics.median(results[small][BASELINE]))
        for name in results[small]:
            before = statistics.median(results[small][name])
            after = statistics.median(results[large][name])
            print(f"  {name:34} x{after / before:5.2f}   x{after / before / base:5.2f} "
                  "the baseline's")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--per-year", type=int, default=1000)
    parser.add_argument("--lcspr-every", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.requests, args.per_year, args.lcspr_every))

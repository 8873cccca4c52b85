"""Benchmark, run by hand: the workspace's pages as the case store grows from 1,000 to 5,000
cases.

    .venv/bin/python -m bench.workspace [--sizes 1000 5000] [--requests 50]
                                        [--per-year 120] [--open-days 90]

The store fills as a partnership's does over the years: `--per-year` notifications a year
(North Lincolnshire sees tens), those of the last `--open-days` days still open, the older ones
closed; so 5,000 cases is decades of history with the same cases open and the same reporting
year as 1,000. At each size it renders My work (the MARS team's: everyone's), a case and the
Board's report, and reads GET /v1/cases/{id} in the same run, through the real app (ASGI) on a
Temporal dev server and the case store (PostgreSQL as the tests use it, else SQLite). It prints
each page's p50 and p95, the ratio of its p95 to the API read's at that size (the target: a p95
under 200 ms), and how much each page's p50 grew from the smallest size to the largest (flat:
about x1). Nothing here is a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from httpx import AsyncClient

from activities.case_store import project
from bench.stack import bench_stack
from domain.calendar import WorkingDayCalendar
from domain.case import CaseState, Outcome, Stage
from domain.notification import Notification
from domain.permissions import Role
from domain.procedure import CURRENT_PROCEDURE, Clock
from tests.conftest import as_role
from web import session

CAL = WorkingDayCalendar()


def a_case(n: int, today: date, per_year: int, open_days: int) -> CaseState:
    """The n-th newest case: received n / per_year years ago, its due dates counted on clock
    R; closed (no further review) once older than `open_days`."""
    received = today - timedelta(days=n * 365 // per_year)
    notification = Notification.model_validate({
        "received_at": datetime(received.year, received.month, received.day, 9, tzinfo=UTC),
        "notifying_agency": "Humberside Police",
        "incident": {"date": received, "harm": "serious_harm", "abuse_or_neglect": "suspected"},
        "children": [{"reference": f"NL-{n:06d}"}]})
    case = CaseState.open_case(f"CSPR-{received.year}-{n:05d}", CURRENT_PROCEDURE, notification)
    case.clock_dates[Clock.RECEIVED] = received
    for state in case.steps:
        for deadline in state.deadlines:
            if deadline.clock is Clock.RECEIVED:
                deadline.due_date = CAL.add_working_days(received, deadline.working_days)
    if (today - received).days > open_days:
        case.stage, case.outcome = Stage.CLOSED, Outcome.NO_FURTHER_REVIEW
    return case


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


async def timed(http: AsyncClient, path: str, n: int, **kwargs: object) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        answer = await http.get(path, **kwargs)  # type: ignore[arg-type]
        times.append(time.perf_counter() - start)
        assert answer.status_code == 200, (path, answer.status_code)
    return times


PAGES = ("GET /v1/cases/{id} (API)", "My work (MARS team)", "A case", "The Board's report")


async def main(sizes: list[int], requests: int, per_year: int, open_days: int) -> None:
    today = datetime.now(UTC).date()
    results: dict[int, dict[str, list[float]]] = {}
    # The stack bench.reads and bench.round_trips use too; no worker: these pages read the store.
    async with bench_stack(worker=False) as stack:
        sessions, http = stack.sessions, stack.http
        mars = session.new_person("bench@cspr.test", "Bench", Role.MARS_TEAM, None)
        http.cookies.set(session.COOKIE, session.encode(stack.settings, mars))
        stored = 0
        for size in sorted(sizes):
            # The store grows: older cases are added behind the ones there.
            async with sessions.begin() as s:
                for n in range(stored + 1, size + 1):
                    await project(s, a_case(n, today, per_year, open_days), 1)
            stored = size
            case_id = a_case(1, today, per_year, open_days).case_id
            await timed(http, "/work", 3)  # warm
            results[size] = {
                PAGES[0]: await timed(http, f"/v1/cases/{case_id}", requests,
                                      headers=as_role("mars_team")),
                PAGES[1]: await timed(http, "/work", requests),
                PAGES[2]: await timed(http, f"/cases/{case_id}", requests),
                PAGES[3]: await timed(http, "/board", requests),
            }
    url = stack.store_url
    print(f"{requests} requests each; {per_year} cases a year, open for {open_days} days "
          f"({url.split(':')[0]})")
    for size, runs in results.items():
        _, api_p95 = percentiles(runs[PAGES[0]])
        print(f"{size} cases:")
        for name, times in runs.items():
            p50, p95 = percentiles(times)
            verdict = "ok" if p95 < 0.2 else "over 200 ms"
            print(f"  {name:28} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
                  f"x{p95 / api_p95:5.1f} the API's p95  {verdict}")
    small, large = min(results), max(results)
    if small != large:
        print(f"growth from {small} to {large} cases (p50):")
        for name in PAGES:
            before = statistics.median(results[small][name])
            after = statistics.median(results[large][name])
            print(f"  {name:28} x{after / before:5.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--per-year", type=int, default=120)
    parser.add_argument("--open-days", type=int, default=90)
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.requests, args.per_year, args.open_days))

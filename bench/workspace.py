"""Benchmark, run by hand: the workspace's pages with 1,000 cases in the store.

    .venv/bin/python -m bench.workspace [--cases 1000] [--requests 100]

Renders My work (the MARS team's: every case), a case and the Board's report, and reads
GET /v1/cases/{id} in the same run, through the real app (ASGI) on a Temporal dev server and the
case store (PostgreSQL as the tests use it, else SQLite). Prints each page's p50 and p95 and the
ratio of its p95 to the API read's: the target is a p95 under 200 ms. Nothing here is a test: the
numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from httpx import ASGITransport, AsyncClient
from temporalio.testing import WorkflowEnvironment

from activities.case_store import project
from api.app import create_app
from domain.calendar import WorkingDayCalendar
from domain.case import CaseState
from domain.notification import Notification
from domain.permissions import Role
from domain.procedure import CURRENT_PROCEDURE, Clock
from infra.binaries import temporal_cli
from infra.settings import Settings
from store.db import make_sessionmaker
from tests.conftest import CONVERTER, TEST_JWT_SECRET, TEST_KEYS, as_role
from tests.database import drop, test_database
from web import session
from workflows import search_attributes as sa

CAL = WorkingDayCalendar()


def a_case(n: int, today: date) -> CaseState:
    """A serious case received up to a year ago, its due dates counted on clock R."""
    received = today - timedelta(days=n % 365)
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


async def main(cases: int, requests: int) -> None:
    today = datetime.now(UTC).date()
    with tempfile.TemporaryDirectory() as tmp:
        engine, schema, url = await test_database(Path(tmp))
        sessions = make_sessionmaker(engine)
        try:
            async with sessions.begin() as s:
                for n in range(1, cases + 1):
                    await project(s, a_case(n, today), 1)
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=temporal_cli(), data_converter=CONVERTER,
                search_attributes=sa.ALL, dev_server_log_level="error")
            try:
                settings = Settings(encryption_keys=TEST_KEYS, jwt_secret=TEST_JWT_SECRET)
                app = create_app(settings, env.client, sessions)
                async with app.router.lifespan_context(app), AsyncClient(
                        transport=ASGITransport(app=app), base_url="http://bench") as http:
                    mars = session.new_person("bench@cspr.test", "Bench", Role.MARS_TEAM, None)
                    http.cookies.set(session.COOKIE, session.encode(settings, mars))
                    case_id = a_case(cases // 2, today).case_id
                    runs = {
                        "GET /v1/cases/{id} (API)": await timed(
                            http, f"/v1/cases/{case_id}", requests,
                            headers=as_role("mars_team")),
                        "My work (MARS team)": await timed(http, "/work", requests),
                        "A case": await timed(http, f"/cases/{case_id}", requests),
                        "The Board's report": await timed(http, "/board", requests),
                    }
            finally:
                await env.shutdown()
        finally:
            await drop(engine, schema, url)
    _, api_p95 = percentiles(runs["GET /v1/cases/{id} (API)"])
    print(f"{cases} cases, {requests} requests each ({url.split(':')[0]})")
    for name, times in runs.items():
        p50, p95 = percentiles(times)
        verdict = "ok" if p95 < 0.2 else "over 200 ms"
        print(f"{name:28} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
              f"x{p95 / api_p95:5.1f} the API's p95  {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.requests))

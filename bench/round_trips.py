"""Benchmark, run by hand: a notification's intake and a decision's round trip, each beside the
Temporal SDK doing the same and beside an empty baseline, on the same dev server (issue 13).

    .venv/bin/python -m bench.round_trips [--n 30] [--concurrency 1]

(a) Intake: POST /v1/notifications (answers once the due dates are set and the case stored)
    against the SDK starting the same workflow and waiting for the same `opened` Update,
    against a bare start of a workflow that does nothing (bench.empty).
(b) A decision: POST /v1/cases/{id}/ssl-recommendation against the SDK's own `record` Update
    of the same decision on another case, against an empty Update of the do-nothing workflow.
Everything runs in one process on a Temporal dev server and PostgreSQL (bench.stack): the API
served in process (ASGI), one worker. `--concurrency` sends that many at once. It prints each
one's p50, p99 and rate, and its ratio to the baseline (targets: intake within x3 of a bare
start; a decision's p99 within x2 of an empty Update's). The API and the worker share this
process here: bench.costs runs the same two comparisons with each as its own process, and
prints the CPU each (and the Temporal server) spends per operation and the history events,
workflow tasks and activities each operation costs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bench.empty import EmptyWorkflow
from bench.stack import BenchStack, bench_stack
from domain.case import CaseState
from tests.factories import decision, start_case
from tests.test_api import SSL, body

Call = Callable[[int], Awaitable[None]]
# Answers other than the expected one, by route and status (a 503 "database is locked" on the
# embedded SQLite under load): counted and printed, not a crash of the run.
REFUSED: dict[str, dict[int, int]] = {}
SSL_BODY: dict[str, Any] = {"criteria_met": True, "recommend_panel_notification": True,
            "rationale": "Unexplained injuries, two agencies"}


async def measure(call: Call, n: int, concurrency: int) -> tuple[list[float], float]:
    """Each call's seconds and the calls a second over the whole run."""
    times: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            start = time.perf_counter()
            await call(i)
            times.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return times, n / (time.perf_counter() - began)


def _expect(status: int, expected: int, route: str, text: str) -> None:
    """A 503 is counted (the service said "try again"); anything else unexpected stops the run."""
    if status == 503:
        counts = REFUSED.setdefault(route, {})
        counts[status] = counts.get(status, 0) + 1
        return
    assert status == expected, text


def p(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


Found = dict[str, tuple[list[float], float]]


async def intake(stack: BenchStack, n: int, concurrency: int) -> Found:
    client, run = stack.env.client, uuid.uuid4().hex[:6].upper()

    async def api(_: int) -> None:
        answer = await stack.http.post("/v1/notifications", json=body())
        _expect(answer.status_code, 201, "POST /v1/notifications", answer.text)

    async def sdk(i: int) -> None:
        handle = await start_case(client, stack.task_queue, f"CSPR-2026-S{run}{i:04d}",
                                  datetime.now(UTC))
        await handle.execute_update("opened", result_type=CaseState)

    async def bare(i: int) -> None:
        await client.start_workflow(EmptyWorkflow.run, id=f"bench-empty-{run}-{i}",
                                    task_queue=stack.task_queue)

    found = {"bare workflow start (baseline)": await measure(bare, n, concurrency),
             "SDK: start + opened Update": await measure(sdk, n, concurrency),
             "API: POST /v1/notifications": await measure(api, n, concurrency)}
    for i in range(n):
        await client.get_workflow_handle(f"bench-empty-{run}-{i}").signal(EmptyWorkflow.finish)
    return found


async def decisions(stack: BenchStack, n: int, concurrency: int
                    ) -> dict[str, tuple[list[float], float]]:
    client = stack.env.client
    cases = []
    for _ in range(2 * n):
        answer = await stack.http.post("/v1/notifications", json=body())
        assert answer.status_code == 201, answer.text
        cases.append(answer.json()["case_id"])
        # Partners informed (as the MARS team records it): the SSL's recommendation is open.
        await client.get_workflow_handle(cases[-1]).execute_update(
            "record", decision("inform_partners"), id=str(uuid.uuid4()), result_type=CaseState)
    empty = await client.start_workflow(EmptyWorkflow.run, id=f"bench-empty-{uuid.uuid4()}",
                                        task_queue=stack.task_queue)

    async def api(i: int) -> None:
        answer = await stack.http.post(f"/v1/cases/{cases[i]}/ssl-recommendation",
                                       json=SSL_BODY, headers=SSL)
        _expect(answer.status_code, 200, "POST .../ssl-recommendation", answer.text)

    async def sdk(i: int) -> None:
        await client.get_workflow_handle(cases[n + i]).execute_update(
            "record", decision("ssl_recommendation", **SSL_BODY), id=str(uuid.uuid4()),
            result_type=CaseState)

    async def nothing(_: int) -> None:
        await empty.execute_update(EmptyWorkflow.poke)

    found = {"empty Update (baseline)": await measure(nothing, n, concurrency),
             "SDK: record Update": await measure(sdk, n, concurrency),
             "API: POST .../ssl-recommendation": await measure(api, n, concurrency)}
    await empty.signal(EmptyWorkflow.finish)
    return found


def report(title: str, found: dict[str, tuple[list[float], float]]) -> None:
    print(title)
    base_name = next(iter(found))
    base_p50, base_p99 = statistics.median(found[base_name][0]), p(found[base_name][0], 0.99)
    for name, (times, rate) in found.items():
        p50, p99 = statistics.median(times), p(times, 0.99)
        print(f"  {name:34} p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
              f"{rate:6.1f}/s  p50 x{p50 / base_p50:5.1f}  p99 x{p99 / base_p99:5.1f}")


async def main(n: int, concurrency: int) -> None:
    async with bench_stack(extra_workflows=[EmptyWorkflow]) as stack:
        # Warm: the first case loads the workflows' modules and the API's.
        await stack.http.post("/v1/notifications", json=body())
        first = await intake(stack, n, concurrency)
        second = await decisions(stack, n, concurrency)
    print(f"{n} of each, {concurrency} at a time (dev server, {stack.store_url.split(':')[0]})")
    report("(a) a notification's intake", first)
    report("(b) a decision's round trip", second)
    for route, counts in REFUSED.items():
        print(f"  {route}: answered {counts} (of {n}); the others as expected")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency))

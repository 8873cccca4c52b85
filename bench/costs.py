"""Benchmark, run by hand: what a notification's intake and a decision cost each part of the
stack, beside the same server's baseline (issue 13, "Done when": "say how much of each cost is
the server's").

    .venv/bin/python -m bench.costs [--n 20]

The whole service as processes (bench.worker_process: the Temporal dev server on SQLite in a
file, the worker, the API under uvicorn, PostgreSQL), the worker also running the do-nothing
workflow (bench.empty), so that each process's CPU time can be read from /proc (the process
and its children, by process group). Four runs of `--n`, one after another:
(a) intake: POST /v1/notifications (a looked after child's death), against a bare start of
    the do-nothing workflow by the SDK;
(b) a decision: POST /v1/cases/{id}/notify-ofsted on a case opened before, against an empty
    Update of the do-nothing workflow.
For each it prints the round trip (p50, p99, ratio to the baseline), the CPU per operation of
the Temporal server, the worker and the API (each process's CPU over the run, less what it
uses idle over as long), the server's share, and what the operation costs the server read
from the workflows' histories (counted by event type between before and after): events,
workflow tasks, activities (by name), local activities, `workflow.patched` markers (one per
patch a new run records), timers, child workflows and Updates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.empty import EmptyWorkflow
from bench.worker_process import (
    TICKS,
    WITH_EMPTY,
    WorkerStack,
    decide,
    open_case,
    ready,
    worker_stack,
)

PROCESSES = ("temporal", "worker", "api")
SETTLE_S = 2.0  # after the last operation: the work it started (a projection, mail) finishes
COUNTED: dict[str, int | str] = {
    "workflow tasks": EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    "activities": EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    "local activities": "core_local_activity",
    "patch markers": "core_patch",
    "timers": EventType.EVENT_TYPE_TIMER_STARTED,
    "children": EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    "updates": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
}


def group_cpu_s(pgid: int) -> float:
    """User and system CPU seconds of every process in the process group (a process started by
    tests.faults.stack leads its own group), its exited children's included."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += sum(int(f) for f in fields[11:15])
    return total / TICKS


def cpu(stack: WorkerStack) -> dict[str, float]:
    found = {}
    for name in PROCESSES:
        popen = stack.processes[name].popen
        assert popen is not None
        found[name] = group_cpu_s(popen.pid)
    return found


def _local_activity(details: Any) -> str:
    """A local activity's type, from its marker (the SDK's own JSON, not the codec's)."""
    try:
        return str(json.loads(details["data"].payloads[0].data)["activity_type"])
    except (KeyError, IndexError, ValueError, TypeError):
        return "local activity"


async def events(client: Client, workflow_id: str) -> Counter[int | str]:
    """Its history's events by type, and its activities by name (`activity:` and `local:`)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    found: Counter[int | str] = Counter(e.event_type for e in history.events)
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            found["activity:" + e.activity_task_scheduled_event_attributes.activity_type.name] += 1
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = e.marker_recorded_event_attributes
            found[marker.marker_name] += 1  # core_patch: a workflow.patched() marker
            if marker.marker_name == "core_local_activity":
                found["local:" + _local_activity(marker.details)] += 1
    return found


class Run:
    """One benchmark's operations: their times, each process's CPU, their history events."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.times: list[float] = []
        self.cpu: dict[str, float] = {}
        self.events: Counter[int | str] = Counter()
        self.n = 0

    async def measure(self, stack: WorkerStack, n: int, op: Callable[[int], Awaitable[None]],
                      idle: dict[str, float]) -> None:
        before, began = cpu(stack), time.monotonic()
        for i in range(n):
            start = time.perf_counter()
            await op(i)
            self.times.append(time.perf_counter() - start)
        await asyncio.sleep(SETTLE_S)
        after, elapsed = cpu(stack), time.monotonic() - began
        self.n = n
        self.cpu = {p: max(0.0, after[p] - before[p] - idle[p] * elapsed) / n for p in PROCESSES}

    def p(self, q: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def idle_rates(stack: WorkerStack, seconds: float = 4.0) -> dict[str, float]:
    """CPU seconds a second each process uses with nothing to do (pollers, timers)."""
    before = cpu(stack)
    await asyncio.sleep(seconds)
    after = cpu(stack)
    return {p: (after[p] - before[p]) / seconds for p in PROCESSES}


def report(title: str, base: Run, ours: Run) -> None:
    print(title)
    for run in (base, ours):
        total = sum(run.cpu.values())
        counts = ", ".join(f"{name} {run.events[kind] / run.n:.1f}"
                           for name, kind in COUNTED.items())
        print(f"  {run.name:36} p50 {statistics.median(run.times) * 1000:7.1f} ms  "
              f"p99 {run.p(0.99) * 1000:7.1f} ms  "
              f"p50 x{statistics.median(run.times) / statistics.median(base.times):5.1f}  "
              f"p99 x{run.p(0.99) / base.p(0.99):5.1f}")
        print(f"  {'':36} CPU per operation: server {run.cpu['temporal'] * 1000:6.1f} ms, "
              f"worker {run.cpu['worker'] * 1000:6.1f} ms, API {run.cpu['api'] * 1000:6.1f} ms"
              f" (the server {run.cpu['temporal'] / total * 100 if total else 0:4.0f} %)")
        named = ", ".join(f"{k.split(':', 1)[1]} {v / run.n:.1f}{' (local)' if k[0] == 'l' else ''}"
                          for k, v in sorted(run.events.items(), key=str)
                          if isinstance(k, str) and ":" in k)
        print(f"  {'':36} history per operation: events "
              f"{sum(v for k, v in run.events.items() if isinstance(k, int)) / run.n:.1f}, "
              f"{counts}")
        if named:
            print(f"  {'':36} activities per operation: {named}")


async def main(n: int) -> None:
    rng = random.Random(13)
    with tempfile.TemporaryDirectory(prefix="cspr-costs-") as tmp:
        async with worker_stack(Path(tmp)) as (stack, http):
            stack.restart_worker(WITH_EMPTY)
            await ready(http, rng)
            for _ in range(3):  # warm: the modules loaded, the connections open
                await open_case(http, rng)
            client = stack.client
            assert client is not None
            run = uuid.uuid4().hex[:6]
            idle = await idle_rates(stack)

            # (a) intake
            bare, intake, opened = Run("bare workflow start (SDK)"), Run(
                "POST /v1/notifications (API)"), []

            async def start(i: int) -> None:
                await client.start_workflow(EmptyWorkflow.run, id=f"costs-{run}-{i}",
                                            task_queue=stack.task_queue)

            async def notify(_: int) -> None:
                opened.append(await open_case(http, rng))

            await bare.measure(stack, n, start, idle)
            await intake.measure(stack, n, notify, idle)
            for i in range(n):
                bare.events += await events(client, f"costs-{run}-{i}")
            for case_id in opened:
                intake.events += await events(client, case_id)

            # (b) a decision, on the cases opened above; the empty Update on one workflow
            empty_id = f"costs-{run}-0"
            before_empty = await events(client, empty_id)
            before_cases = [await events(client, c) for c in opened]
            update, decision = Run("empty Update (SDK)"), Run(
                "POST .../notify-ofsted (API)")

            async def poke(_: int) -> None:
                await client.get_workflow_handle(empty_id).execute_update(EmptyWorkflow.poke)

            async def decide_one(i: int) -> None:
                await decide(http, opened[i])

            await update.measure(stack, n, poke, idle)
            await decision.measure(stack, n, decide_one, idle)
            update.events = await events(client, empty_id) - before_empty
            for case_id, before in zip(opened, before_cases, strict=True):
                decision.events += await events(client, case_id) - before
            for i in range(n):
                await client.get_workflow_handle(f"costs-{run}-{i}").signal(EmptyWorkflow.finish)
    print(f"{n} of each, one at a time; idle CPU subtracted (server "
          f"{idle['temporal'] * 1000:.0f} ms/s, worker {idle['worker'] * 1000:.0f} ms/s, "
          f"API {idle['api'] * 1000:.0f} ms/s); dev server on SQLite in a file, PostgreSQL")
    report("(a) a notification's intake", bare, intake)
    report("(b) a decision's round trip", update, decision)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.n))

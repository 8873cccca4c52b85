"""The whole service as processes (tests/faults/stack.py: the Temporal dev server on SQLite, the
worker, the API under uvicorn, PostgreSQL), with the worker run as its own process so that its
CPU time and memory can be read from /proc, and restarted with another sandbox or cache size.
Used by bench.worker_cpu and bench.worker_memory.

    .venv/bin/python -m bench.worker_process passthrough|strict   # the worker alone (worker.main)
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.faults.partner import MARS
from tests.faults.stack import Process, Stack

SANDBOXES = ("passthrough", "strict")  # worker.WORKFLOW_RUNNER, worker.STRICT_RUNNER
# The production worker that also runs the do-nothing workflow (bench.empty), the baseline of
# bench.costs: the same process serves both, so its CPU is read the same way for each.
WITH_EMPTY = "passthrough+empty"
TICKS = os.sysconf("SC_CLK_TCK")


class WorkerStack(Stack):
    """The faults' stack, its worker started by this module with the sandbox asked for."""

    def restart_worker(self, sandbox: str, max_cached: int | None = None) -> None:
        old = self.processes["worker"]
        old.terminate()
        old.wait_or_kill(30.0)
        env = dict(old.env)
        if max_cached is not None:
            env["CSPR_WORKER_MAX_CACHED_WORKFLOWS"] = str(max_cached)
        self.processes["worker"] = Process(
            "worker", [sys.executable, "-m", "bench.worker_process", sandbox], env, old.log)
        self.processes["worker"].start()

    @property
    def worker_pid(self) -> int:
        popen = self.processes["worker"].popen
        assert popen is not None
        return popen.pid

    def worker_cpu_s(self) -> float:
        """User and system CPU seconds the worker process has used."""
        fields = Path(f"/proc/{self.worker_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def worker_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.worker_pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")


@asynccontextmanager
async def worker_stack(workdir: Path) -> AsyncIterator[tuple[WorkerStack, httpx.AsyncClient]]:
    stack = WorkerStack(workdir)
    try:
        await stack.start()
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=120.0) as http:
            yield stack, http
    finally:
        await stack.stop()


def fresh_notification(rng: random.Random) -> dict[str, Any]:
    """Doc 1 received now (the death of a looked after child): the case opens with its first
    steps due in days, so it waits."""
    received = datetime.now(UTC) - timedelta(minutes=5)
    return {
        "received_at": received.isoformat(),
        "notifying_agency": "Humberside Police",
        "incident": {"date": (received - timedelta(days=2)).date().isoformat(),
                     "harm": "death", "abuse_or_neglect": "suspected"},
        "children": [{"reference": f"BENCH-{rng.randrange(10**9)}", "looked_after": True}],
    }


def notice(reference: str) -> dict[str, Any]:
    return {"sent_at": datetime.now(UTC).isoformat(), "method": "online_notification_system",
            "reference": reference}


# Two decisions the MARS team records on a new case, each accepted once: the looked after
# child's death notified to Ofsted, then to the Secretary of State (open at every stage, so no
# letters have to go first).
DECISIONS = ("notify-ofsted", "notify-secretary-of-state")


async def post(http: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str],
               expect: int) -> Any:
    """POST, sent again after a 503 (the case or the store busy), as a partner system does."""
    for attempt in range(20):
        answer = await http.post(path, json=body, headers=headers)
        if answer.status_code != 503:
            break
        await asyncio.sleep(min(0.5 * (attempt + 1), 3.0))
    if answer.status_code != expect:
        raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text[:300]}")
    return answer.json()


async def open_case(http: httpx.AsyncClient, rng: random.Random) -> str:
    created = await post(http, "/v1/notifications", fresh_notification(rng), MARS, 201)
    return str(created["case_id"])


async def decide(http: httpx.AsyncClient, case_id: str, n: int = 0) -> float:
    """The case's nth decision (DECISIONS); its round trip in seconds."""
    began = time.perf_counter()
    await post(http, f"/v1/cases/{case_id}/{DECISIONS[n]}", notice(f"CSPN-{n}"), MARS, 200)
    return time.perf_counter() - began


async def open_cases(http: httpx.AsyncClient, n: int, concurrency: int,
                     rng: random.Random) -> list[str]:
    """n cases through the API, `concurrency` at a time; their ids in order of opening."""
    ids: list[str] = []
    queue = iter(range(n))

    async def one_at_a_time() -> None:
        for _ in queue:
            ids.append(await open_case(http, rng))

    await asyncio.gather(*(one_at_a_time() for _ in range(concurrency)))
    return ids


async def ready(http: httpx.AsyncClient, rng: random.Random) -> str:
    """Wait until a (re)started worker answers: a case opened through it."""
    deadline = time.monotonic() + 90
    while True:
        try:
            return await asyncio.wait_for(open_case(http, rng), 30)
        except (TimeoutError, RuntimeError):
            if time.monotonic() > deadline:
                raise


def run_worker(sandbox: str) -> None:
    import functools

    import worker

    if sandbox == WITH_EMPTY:
        from bench.empty import EmptyWorkflow

        worker.build_worker = functools.partial(
            worker.build_worker, workflows=[*worker.WORKFLOWS, EmptyWorkflow])
        sandbox = "passthrough"
    runner = worker.WORKFLOW_RUNNER if sandbox == "passthrough" else worker.STRICT_RUNNER
    asyncio.run(worker.main(runner))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in (*SANDBOXES, WITH_EMPTY):
        sys.exit(f"usage: python -m bench.worker_process {'|'.join((*SANDBOXES, WITH_EMPTY))}")
    run_worker(sys.argv[1])

"""Benchmark, run by hand: the worker's memory as open cases grow, and what a decision costs on
a case whose run the worker no longer caches (issue 13: "worker memory under 400 MB at 10,000
open cases").

    .venv/bin/python -m bench.worker_memory [--sizes 1000 2000 5000] [--concurrency 8]

The whole service as processes (bench.worker_process: the dev server on SQLite, the API under
uvicorn, PostgreSQL). Cases are opened through the API, `--concurrency` at a time, each left
waiting on its first deadlines (open). At each size it reads the worker's resident memory
(RSS) as it is, then restarts the worker in each configuration and loads into its cache the
most recent cases it can hold (a query each, which replays the run), and reads its RSS again:
- "after": production, the workflow modules passed through the sandbox (worker.WORKFLOW_RUNNER)
  and CSPR_WORKER_MAX_CACHED_WORKFLOWS at its default;
- "before": the SDK's default sandbox and its default cache of 1,000 runs (the code before).
A worker holds no more runs than its cache, so its memory stops growing once the cache is
full. Last, on the "after" worker, it times decisions (bench.worker_process.DECISIONS) on the
newest cases (cached) and on the oldest (evicted, so each is replayed from its history first),
and prints the worker's CPU and the round trip of each, with their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.worker_process import (
    WorkerStack,
    decide,
    open_cases,
    ready,
    worker_stack,
)
from infra.settings import Settings

DEFAULT_CACHE = Settings.model_fields["worker_max_cached_workflows"].default
SDK_DEFAULT_CACHE = 1000
CONFIGS = {"after": ("passthrough", DEFAULT_CACHE), "before": ("strict", SDK_DEFAULT_CACHE)}


async def cached_rss(stack: WorkerStack, http: httpx.AsyncClient, ids: list[str], sandbox: str,
                     cache: int, rng: random.Random) -> float:
    """The worker restarted with this configuration, its cache filled with the newest cases."""
    stack.restart_worker(sandbox, cache)
    ids.append(await ready(http, rng))
    assert stack.client is not None
    newest = ids[-cache:] if cache else []
    for first in range(0, len(newest), 8):
        await asyncio.gather(*(stack.client.get_workflow_handle(case_id).query("case")
                               for case_id in newest[first:first + 8]))
    await asyncio.sleep(2)
    return stack.worker_rss_mb()


async def main(sizes: list[int], concurrency: int, decisions: int) -> None:
    rng = random.Random(13)
    rows: list[tuple[int, float, dict[str, float], float]] = []
    with tempfile.TemporaryDirectory(prefix="cspr-worker-memory-") as tmp:
        async with worker_stack(Path(tmp)) as (stack, http):
            sandbox, cache = CONFIGS["after"]
            stack.restart_worker(sandbox, cache)
            ids = [await ready(http, rng)]
            began = time.perf_counter()
            for size in sorted(sizes):
                ids += await open_cases(http, size - len(ids), concurrency, rng)
                elapsed = time.perf_counter() - began
                live = stack.worker_rss_mb()
                print(f"{len(ids)} open cases in {elapsed:.0f} s; the worker that opened them: "
                      f"{live:.0f} MB", flush=True)
                rss = {}
                for name in ("before", "after"):  # "after" last: the decisions below use it
                    sandbox, cache = CONFIGS[name]
                    rss[name] = await cached_rss(stack, http, ids, sandbox, cache, rng)
                    print(f"  {name}: {rss[name]:.0f} MB with the newest "
                          f"{min(cache, len(ids))} cached", flush=True)
                rows.append((len(ids), live, rss, elapsed))
            # The "after" worker is the last restarted: its cache holds the newest cases.
            cached_cpu, cached_times = await decisions_on(stack, http, ids[-decisions:])
            evicted_cpu, evicted_times = await decisions_on(stack, http, ids[:decisions])
    print(f"worker RSS (MB) by open cases; after: workflow modules passed through, a cache of "
          f"{DEFAULT_CACHE}; before: the SDK's default sandbox and cache ({SDK_DEFAULT_CACHE})")
    print(f"  {'open cases':>10} {'live':>6} {'after':>6} {'before':>7} {'after/before':>13}")
    for n, live, rss, _ in rows:
        print(f"  {n:10} {live:6.0f} {rss['after']:6.0f} {rss['before']:7.0f} "
              f"x{rss['after'] / rss['before']:12.2f}")
    print(f"a decision, {decisions} each (after):")
    for name, cpu, times in (("cached", cached_cpu, cached_times),
                             ("evicted (replayed)", evicted_cpu, evicted_times)):
        print(f"  {name:20} worker CPU {cpu * 1000:6.1f} ms, round trip p50 "
              f"{statistics.median(times) * 1000:6.1f} ms")
    print(f"  evicted / cached: CPU x{evicted_cpu / cached_cpu:.2f}, round trip "
          f"x{statistics.median(evicted_times) / statistics.median(cached_times):.2f}")


async def decisions_on(stack: WorkerStack, http: httpx.AsyncClient,
                       ids: list[str]) -> tuple[float, list[float]]:
    """One decision on each case, one after another: worker CPU per decision, round trips."""
    before = stack.worker_cpu_s()
    times = [await decide(http, case_id) for case_id in ids]
    return (stack.worker_cpu_s() - before) / len(ids), times


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--decisions", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.concurrency, args.decisions))

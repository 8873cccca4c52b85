"""Benchmark, run by hand: the worker's CPU per case with the workflow modules passed through
the sandbox (worker.WORKFLOW_RUNNER, production) and without (the SDK's default sandbox, which
imports the workflow modules again for every run: issue 13, "40 % of the worker's CPU").

    .venv/bin/python -m bench.worker_cpu [--cases 100] [--rounds 2] [--concurrency 4]

The whole service as processes (bench.worker_process: the dev server on SQLite, the API under
uvicorn, PostgreSQL), the worker restarted in each sandbox in turn, `--rounds` times each, on
the same server in the same run. Each round opens `--cases` cases through the API and records
the SSL's recommendation on each (a new run, then a decision on it while cached), reading the
worker process's CPU time before and after; then it restarts the worker (nothing cached) and
records a second decision on each case (each run replayed from its history first). It prints
CPU per case and per decision, and the ratio passed through / default, each measured the same
way in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.worker_process import SANDBOXES, decide, open_cases, ready, worker_stack


async def main(cases: int, rounds: int, concurrency: int) -> None:
    rng = random.Random(13)
    cpu: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with tempfile.TemporaryDirectory(prefix="cspr-worker-cpu-") as tmp:
        async with worker_stack(Path(tmp)) as (stack, http):
            for round_ in range(rounds):
                for sandbox in SANDBOXES:
                    stack.restart_worker(sandbox)
                    await ready(http, rng)
                    await open_cases(http, 5, 1, rng)  # warm
                    before = stack.worker_cpu_s()
                    ids = await open_cases(http, cases, concurrency, rng)
                    opened = stack.worker_cpu_s()
                    for case_id in ids:
                        await decide(http, case_id)
                    decided = stack.worker_cpu_s()
                    stack.restart_worker(sandbox)
                    await ready(http, rng)
                    again = stack.worker_cpu_s()
                    # Each case's run is no longer cached: the decision replays it first.
                    for case_id in ids:
                        await decide(http, case_id, 1)
                    replayed = stack.worker_cpu_s()
                    cpu[sandbox]["a case opened (start + opened)"].append(
                        (opened - before) / cases)
                    cpu[sandbox]["a decision, the run cached"].append((decided - opened) / cases)
                    cpu[sandbox]["a decision, the run replayed"].append(
                        (replayed - again) / cases)
                    print(f"round {round_ + 1} {sandbox:11}: " + ", ".join(
                        f"{name} {values[-1] * 1000:.1f} ms"
                        for name, values in cpu[sandbox].items()), flush=True)
    print(f"worker CPU per case, {cases} cases a round, {rounds} rounds each (median of rounds):")
    print(f"  {'':34} {'passed through':>15} {'default sandbox':>16} {'ratio':>6}")
    for name in cpu["passthrough"]:
        after = statistics.median(cpu["passthrough"][name])
        before = statistics.median(cpu["strict"][name])
        print(f"  {name:34} {after * 1000:12.1f} ms {before * 1000:13.1f} ms "
              f"x{after / before:5.2f}")
    total_after = sum(statistics.median(v) for v in cpu["passthrough"].values())
    total_before = sum(statistics.median(v) for v in cpu["strict"].values())
    print(f"  {'all three':34} {total_after * 1000:12.1f} ms {total_before * 1000:13.1f} ms "
          f"x{total_after / total_before:5.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.rounds, args.concurrency))

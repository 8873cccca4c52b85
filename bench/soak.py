"""The fault suite at a larger scale, by hand (not in CI): the same harness as tests/faults/,
with more cases and more worker kills; prints the same counts and exits 1 if any is not 0.

    .venv/bin/python -m bench.soak                       # 100 cases, 50 worker kills
    .venv/bin/python -m bench.soak --cases 20 --kills 10 --seed 1234
    CSPR_FAULT_PORT_BASE=9300 .venv/bin/python -m bench.soak   # ports from 9300 on

Needs PostgreSQL as the tests do (127.0.0.1:5432, or CSPR_TEST_DATABASE_URL). The processes'
logs are kept in a temporary directory, printed at the start.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from tests.faults.run import Counts, Plan, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--kills", type=int, default=50, help="worker SIGKILLs")
    parser.add_argument("--temporal-restarts", type=int, default=2)
    parser.add_argument("--store-outage", type=float, default=20.0,
                        help="seconds the store refuses connections (0: none)")
    parser.add_argument("--parallel", type=int, default=6, help="cases walked at once")
    parser.add_argument("--seed", type=int, default=None,
                        help="the faults' schedule (default: CSPR_FAULT_SEED, else random)")
    parser.add_argument("--settle", type=float, default=180.0,
                        help="seconds the service may take to finish after the walk")
    args = parser.parse_args()
    plan = Plan(seed=args.seed or Plan.seed_from_env(), cases=args.cases,
                parallel=args.parallel, worker_kills=args.kills,
                temporal_restarts=args.temporal_restarts, store_outage_s=args.store_outage,
                settle_s=args.settle)
    workdir = Path(tempfile.mkdtemp(prefix="cspr-soak-"))
    counts: Counts = asyncio.run(run(plan, workdir))
    print(counts.summary(), flush=True)
    sys.exit(1 if any(getattr(counts, name) for name in Counts.CHECKS) else 0)


if __name__ == "__main__":
    main()

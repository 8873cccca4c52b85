"""One fault run: the stack, the partner walking its cases, the faults on a seeded schedule, and
the counts afterwards. Used by tests/faults/test_faults.py (CI) and bench/soak.py (by hand).

    CSPR_FAULT_SEED=1234 .venv/bin/pytest -q tests/faults   # the same schedule again
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from domain.case import CaseState
from tests.faults.partner import (
    STEPS_PER_CASE,
    MarsTeam,
    Partner,
    Walk,
    directory,
    walk,
)
from tests.faults.stack import Stack

# A step the walk recorded shows one of these (wellbeing sessions not relevant: not required).
DONE = ("done", "done_late", "not_required")


@dataclass(frozen=True)
class Plan:
    """The size of a run and its faults; `seed` decides where each fault falls."""

    seed: int
    cases: int = 8
    parallel: int = 4
    worker_kills: int = 5
    temporal_restarts: int = 1
    store_outage_s: float = 20.0
    settle_s: float = 60.0  # after the walk, how long the service may take to finish its work
    # How long the MARS team waits for a letters step to show done before it goes on (a worker
    # killed mid-send costs a heartbeat timeout and a retry, longer on a loaded machine).
    letters_wait_s: float = 90.0

    @staticmethod
    def seed_from_env() -> int:
        given = os.environ.get("CSPR_FAULT_SEED")
        return int(given) if given else random.SystemRandom().randrange(1, 2**31)


@dataclass(frozen=True)
class Fault:
    at_request: int  # falls once the partner has sent this many requests
    kind: str  # worker, temporal, store
    delay_s: float  # after that request went out: mid-answer
    down_s: float  # how long it stays down
    on_letters: bool = False  # ...and then at the next letters request: mid-send


def schedule(plan: Plan, total: int, rng: random.Random) -> list[Fault]:
    """The faults in the order they fall: worker kills spread over the walk, Temporal's restart
    in its first half, the store's outage in its second."""
    faults = [Fault(rng.randint(max(1, total // 20), total * 9 // 10), "worker",
                    rng.uniform(0.0, 1.5), rng.uniform(0.5, 3.0))
              for _ in range(plan.worker_kills)]
    # One kill at least lands while letters are being e-mailed (issue 11, item 6).
    if faults:
        faults[0] = Fault(rng.randint(1, total // 3), "worker", rng.uniform(0.3, 1.0),
                          rng.uniform(0.5, 3.0), on_letters=True)
    faults += [Fault(rng.randint(total // 4, total // 2), "temporal", rng.uniform(0.0, 1.0),
                     rng.uniform(3.0, 8.0)) for _ in range(plan.temporal_restarts)]
    if plan.store_outage_s:
        faults.append(Fault(rng.randint(total * 3 // 5, total * 4 // 5), "store",
                            rng.uniform(0.0, 1.0), plan.store_outage_s))
    return sorted(faults, key=lambda f: f.at_request)


@dataclass
class Counts:
    """What the run found; every count but the first few must be 0."""

    seed: int
    cases: int = 0
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    retries_without_answer: int = 0
    worker_kills: int = 0
    temporal_restarts: int = 0
    store_outages: int = 0
    unplanned_exits: dict[str, int] = field(default_factory=dict)
    emails_at_catcher: int = 0
    emails_uncertain: int = 0  # cut off mid-send: settled by the MARS team, or left uncertain
    emails_settled: list[str] = field(default_factory=list)  # the MARS team's resolutions
    settling_refused: dict[str, str] = field(default_factory=dict)  # ...answered other than 200
    elapsed_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds each part of the run took
    # --- each must be 0
    cases_lost: list[str] = field(default_factory=list)
    orphan_cases: list[str] = field(default_factory=list)
    duplicate_cases: list[str] = field(default_factory=list)
    steps_lost: list[str] = field(default_factory=list)
    steps_refused: list[str] = field(default_factory=list)
    duplicate_audit_rows: list[str] = field(default_factory=list)
    duplicate_emails: list[str] = field(default_factory=list)
    lost_emails: list[str] = field(default_factory=list)
    unsettled_emails: list[str] = field(default_factory=list)  # still uncertain at the end
    stuck_cases: list[str] = field(default_factory=list)
    stuck_keys: list[str] = field(default_factory=list)
    store_differs: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    CHECKS = ("cases_lost", "orphan_cases", "duplicate_cases", "steps_lost", "steps_refused",
              "duplicate_audit_rows", "duplicate_emails", "lost_emails", "unsettled_emails",
              "stuck_cases",
              "stuck_keys", "store_differs", "server_errors")

    def summary(self) -> str:
        lines = [f"fault run: seed {self.seed} (CSPR_FAULT_SEED={self.seed} to repeat), "
                 f"{self.cases} cases, {self.requests} requests in {self.elapsed_s:.0f} s "
                 f"({', '.join(f'{k} {v:.0f} s' for k, v in self.phases.items())})",
                 f"  faults: {self.worker_kills} worker kills, {self.temporal_restarts} Temporal "
                 f"restarts, {self.store_outages} store outages; unplanned exits "
                 f"{self.unplanned_exits or 'none'}",
                 f"  answers: {dict(sorted(self.statuses.items()))}, "
                 f"{self.retries_without_answer} sent again for want of an answer",
                 f"  e-mails: {self.emails_at_catcher} at the catcher, "
                 f"{self.emails_uncertain} cut off mid-send, settled by the MARS team: "
                 f"{len(self.emails_settled)} ({self.emails_settled[:3]}); settling refused: "
                 f"{len(self.settling_refused)} {list(self.settling_refused.items())[:3]}"]
        for name in self.CHECKS:
            found: list[str] = getattr(self, name)
            lines.append(f"  {name}: {len(found)}" + (f"  e.g. {found[:3]}" if found else ""))
        return "\n".join(lines)


class Faults:
    """Lets each fault fall when the partner has sent enough requests; one at a time."""

    def __init__(self, stack: Stack, faults: list[Fault], counts: Counts) -> None:
        self.stack = stack
        self.pending = list(faults)
        self.counts = counts
        self.sent = 0
        self.due = asyncio.Event()
        self.finished = asyncio.Event()
        self.running = True
        self.holding: set[str] = set()  # processes a fault keeps down: not restarted meanwhile
        self.last_letters = 0  # the number of the last letters request sent
        self.ending = False

    async def on_request(self, path: str) -> None:
        self.sent += 1
        if "/letters/" in path:
            self.last_letters = self.sent
        if self.pending and self._due(self.pending[0]):
            self.due.set()

    def _due(self, fault: Fault) -> bool:
        if self.sent < fault.at_request:
            return False
        return not fault.on_letters or self.last_letters >= fault.at_request or self.ending

    async def run(self) -> None:
        while self.pending:
            await self.due.wait()
            self.due.clear()
            while self.pending and self._due(self.pending[0]):
                await self.fall(self.pending.pop(0))
        self.finished.set()

    def end(self) -> None:
        """The walk is over: the faults still to come fall now."""
        self.ending = True
        self.sent = max(self.sent, *(f.at_request for f in self.pending), 0)
        self.due.set()

    async def fall(self, fault: Fault) -> None:
        await asyncio.sleep(fault.delay_s)
        processes = self.stack.processes
        if fault.kind == "worker":
            self.holding.add("worker")
            processes["worker"].kill()
            self.counts.worker_kills += 1
            await asyncio.sleep(fault.down_s)
            processes["worker"].start()
            self.holding.discard("worker")
        elif fault.kind == "temporal":
            processes["temporal"].kill()
            self.counts.temporal_restarts += 1
            await asyncio.sleep(fault.down_s)
            await self.stack.start_temporal()
        else:
            assert self.stack.proxy is not None
            # Half the outage down (connections refused), half starting up (FATAL 57P03).
            await self.stack.proxy.refuse()
            self.counts.store_outages += 1
            await asyncio.sleep(fault.down_s / 2)
            await self.stack.proxy.starting()
            await asyncio.sleep(fault.down_s / 2)
            await self.stack.proxy.accept()

    async def supervise(self) -> None:
        """A process manager's part: a worker or API that exits on its own is started again
        (and counted); the faults' own kills are restarted by `fall`."""
        while self.running:
            await asyncio.sleep(1.0)
            for name in ("worker", "api"):
                process = self.stack.processes[name]
                if process.starts and not process.alive() and name not in self.holding:
                    exits = self.counts.unplanned_exits
                    exits[name] = exits.get(name, 0) + 1
                    process.start()


async def run(plan: Plan, workdir: Path) -> Counts:
    """The whole run; the stack is stopped and its database dropped whatever happens."""
    rng = random.Random(plan.seed)
    counts = Counts(seed=plan.seed, cases=plan.cases)
    print(f"\nfault run: seed {plan.seed} (CSPR_FAULT_SEED={plan.seed} to repeat); "
          f"logs in {workdir}", flush=True)
    started = time.monotonic()
    stack = Stack(workdir)
    try:
        await stack.start()
        counts.phases["start"] = time.monotonic() - started
        await _run(stack, plan, rng, counts)
    finally:
        stopping = time.monotonic()
        await stack.stop()
        counts.phases["stop"] = time.monotonic() - stopping
    counts.elapsed_s = time.monotonic() - started
    return counts


async def _run(stack: Stack, plan: Plan, rng: random.Random, counts: Counts) -> None:
    faults = Faults(stack, schedule(plan, plan.cases * STEPS_PER_CASE, rng), counts)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30.0) as http:
        partner = Partner(http, _nothing)
        await directory(partner)
        partner.on_request = faults.on_request  # the faults count the walk's requests only
        walks = [Walk(reference=f"FLT-{plan.seed}-{n:03d}") for n in range(plan.cases)]
        mars = MarsTeam(partner, walks, lambda message: _arrived(stack, message))
        gate = asyncio.Semaphore(plan.parallel)

        async def one(case: Walk, n: int) -> None:
            await asyncio.sleep(n * 0.3)  # the cases arrive one after another
            async with gate:
                await walk(partner, case, random.Random(rng.random()), plan.letters_wait_s)

        injector = asyncio.create_task(faults.run())
        supervisor = asyncio.create_task(faults.supervise())
        watcher = asyncio.create_task(mars.watch())
        try:
            began = time.monotonic()
            await asyncio.gather(*(one(c, n) for n, c in enumerate(walks)))
            counts.phases["walk"] = time.monotonic() - began
            # The last faults fall even if the walk ended before their turn.
            faults.end()
            await asyncio.wait_for(faults.finished.wait(), timeout=120)
            counts.phases["last faults"] = time.monotonic() - began - counts.phases["walk"]
            began = time.monotonic()
            await _settle(stack, walks, plan.settle_s)
            mars.running = False
            await watcher
            counts.phases["settle"] = time.monotonic() - began
            began = time.monotonic()
            await check(stack, partner, walks, counts)
            counts.phases["check"] = time.monotonic() - began
            counts.emails_settled = list(mars.settled)
            counts.settling_refused = dict(mars.refused)
        finally:
            faults.running = False
            mars.running = False
            injector.cancel()
            supervisor.cancel()
            watcher.cancel()
        counts.requests = sum(counts.statuses.values())


async def _arrived(stack: Stack, message: int) -> bool:
    """The recipient's word on one of the outbox's messages: the catcher holds its Message-ID."""
    assert stack.engine is not None
    assert stack.catcher is not None
    async with stack.engine.connect() as conn:
        message_id = (await conn.execute(text("select message_id from outbox where id = :id"),
                                         {"id": message})).scalar_one()
    return message_id in stack.catcher.message_ids


async def _nothing(_path: str) -> None:
    return None


async def _settle(stack: Stack, walks: list[Walk], settle_s: float) -> None:
    """Wait until every case's workflow has ended and the store shows it closed, no e-mail is
    on its way or uncertain (the MARS team settles those meanwhile) and no key is being
    answered, or `settle_s` has passed (what is left then is stuck)."""
    assert stack.engine is not None
    assert stack.client is not None
    ids = [w.case_id for w in walks if w.case_id]
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        running = 0
        for case_id in ids:
            try:
                described = await stack.client.get_workflow_handle(case_id).describe()
            except RPCError:
                continue
            running += described.status is WorkflowExecutionStatus.RUNNING
        async with stack.engine.connect() as conn:
            open_cases = (await conn.execute(
                text("select count(*) from cases where stage <> 'closed' and case_id = any(:ids)"),
                {"ids": ids})).scalar_one()
            sending = (await conn.execute(text(
                "select count(*) from outbox "
                "where status in ('pending', 'connecting', 'sending', 'uncertain')"))).scalar_one()
            keys = (await conn.execute(text(
                "select count(*) from idempotency_keys where status_code = 0"))).scalar_one()
        if not (running or open_cases or sending or keys):
            return
        await asyncio.sleep(1.0)


async def check(stack: Stack, partner: Partner, walks: list[Walk], counts: Counts) -> None:
    """Fill in every count from the partner's answers, the store, Temporal and the catcher."""
    assert stack.engine is not None
    assert stack.client is not None
    assert stack.catcher is not None
    counts.statuses = dict(partner.statuses)
    counts.retries_without_answer = partner.no_answer
    counts.server_errors = list(partner.server_errors)
    answered = {w.case_id: w for w in walks if w.case_id}

    async with stack.engine.connect() as conn:
        stored = {r.case_id: r for r in (await conn.execute(text(
            "select case_id, stage, version, snapshot from cases"))).all()}
        references = (await conn.execute(text(
            "select reference, case_id from children"))).all()
        step_rows = (await conn.execute(text(
            "select case_id, step, status from case_steps"))).all()
        audit_dups = (await conn.execute(text(
            "select case_id, part, kind, step, detail, count(*) as n from audit_events "
            "where kind in ('overdue', 'reminder', 'letters_sent', 'notified') "
            "group by case_id, part, kind, step, detail having count(*) > 1"))).all()
        recorded = Counter((r.case_id, r.step) for r in (await conn.execute(text(
            "select case_id, step from audit_events where kind = 'recorded'"))).all())
        audit_rows = Counter(r.case_id for r in (await conn.execute(text(
            "select case_id from audit_events where part = 'case'"))).all())
        outbox = (await conn.execute(text(
            "select message_id, key, status, case_id, purpose from outbox"))).all()
        resolved = (await conn.execute(text(
            "select detail from audit_events where kind = 'mail_resolved'"))).all()
        stuck_keys = (await conn.execute(text(
            "select method_path from idempotency_keys where status_code = 0"))).all()

    # Cases: each notification answered 201 is one case, stored and running in Temporal.
    workflows: dict[str, WorkflowExecutionStatus | None] = {}
    async for execution in stack.client.list_workflows("WorkflowType = 'SeriousIncident'"):
        workflows[execution.id] = execution.status
    for case_id in answered:  # the list is eventually consistent: each case as it is now
        try:
            workflows[case_id] = (await stack.client.get_workflow_handle(case_id).describe()
                                  ).status
        except RPCError:
            workflows.pop(case_id, None)
    for w in walks:
        if w.case_id is None:
            counts.cases_lost.append(f"{w.reference}: no case ({w.refused[:1]})")
        elif w.case_id not in stored or w.case_id not in workflows:
            counts.cases_lost.append(f"{w.case_id}: stored {w.case_id in stored}, "
                                     f"in Temporal {w.case_id in workflows}")
    counts.orphan_cases = sorted((set(stored) | set(workflows)) - set(answered))
    by_reference: dict[str, list[str]] = {}
    for reference, case_id in references:
        by_reference.setdefault(reference, []).append(case_id)
    counts.duplicate_cases = sorted(f"{ref}: {ids}" for ref, ids in by_reference.items()
                                    if len(ids) > 1)

    # Steps: every step of the walk is done in the store (the letters' steps by the service).
    status = {(r.case_id, r.step): r.status for r in step_rows}
    for w in walks:
        counts.steps_refused += [f"{a.what}: {a.status} after {a.attempts} attempts "
                                 f"{str(a.body)[:200]}" for a in w.refused if w.case_id]
        if w.case_id is None:
            continue
        for path in w.done:
            step = _step(path)
            if status.get((w.case_id, step)) not in DONE:
                counts.steps_lost.append(f"{w.case_id} {step}: "
                                         f"{status.get((w.case_id, step))}")
    counts.duplicate_audit_rows = [f"{r.case_id} {r.part} {r.kind} {r.step} x{r.n}"
                                   for r in audit_dups]
    # No step recorded more often than the walk asked for it (three DSPs, two agencies...).
    for w in walks:
        asked = Counter({_step(path): n for path, n in w.sent.items()})
        for (case_id, step), n in recorded.items():
            if case_id == w.case_id and n > asked[step]:
                counts.duplicate_audit_rows.append(f"{case_id} recorded {step} x{n}, "
                                                   f"asked x{asked[step]}")

    # E-mail: each message in the outbox reached the catcher once; nothing else came.
    at_catcher = Counter(stack.catcher.message_ids)
    counts.emails_at_catcher = sum(at_catcher.values())
    counts.duplicate_emails = [f"{m} x{n}" for m, n in at_catcher.items() if n > 1]
    known = {r.message_id for r in outbox}
    counts.duplicate_emails += [f"{m}: not in the outbox" for m in at_catcher if m not in known]
    # Lost: not at the catcher. A message a kill cut off mid-send (`uncertain`) is settled by
    # the MARS team meanwhile (received, or sent again with its Message-ID); one left
    # uncertain at the end is unsettled, whether or not it arrived.
    counts.lost_emails = [f"{r.case_id} {r.purpose} {r.status}" for r in outbox
                          if r.message_id not in at_catcher]
    counts.unsettled_emails = [f"{r.case_id} {r.purpose} {r.key}" for r in outbox
                               if r.status == "uncertain"]
    counts.emails_uncertain = len(resolved) + len(counts.unsettled_emails)

    # Nothing stuck: every case closed, in the store and in Temporal; no key in progress.
    for case_id in answered:
        row = stored.get(case_id)
        if row is None or row.stage != "closed" or \
                workflows.get(case_id) is WorkflowExecutionStatus.RUNNING:
            counts.stuck_cases.append(f"{case_id}: {row.stage if row else 'not stored'}, "
                                      f"{workflows.get(case_id)}")
    counts.stuck_keys = [r.method_path for r in stuck_keys]

    # The store is what each workflow says: the case as its query gives it, and its trail.
    for case_id in sorted(set(answered) & set(stored) & set(workflows)):
        try:
            state = await stack.client.get_workflow_handle(case_id).query(
                "case", result_type=CaseState)
        except RPCError as e:
            counts.store_differs.append(f"{case_id}: no answer to the query ({e.status})")
            continue
        differs = _differences(state.model_dump(mode="json"), stored[case_id].snapshot)
        if audit_rows[case_id] != state.event_count:
            differs.append(f"{audit_rows[case_id]} audit rows, {state.event_count} events")
        if differs:
            counts.store_differs.append(f"{case_id}: {', '.join(differs[:4])}")


def _step(path: str) -> str:
    """The step a walk's path records: `letters/inform-partners` records inform_partners."""
    return path.removeprefix("letters/").replace("-", "_")


def _differences(query: dict[str, Any], snapshot: dict[str, Any]) -> list[str]:
    """Where the stored case differs from the workflow's: each field, and for a list (events,
    steps) its lengths and the first item that differs."""
    found = []
    for key in sorted(set(query) | set(snapshot)):
        mine, stored = query.get(key), snapshot.get(key)
        if mine == stored:
            continue
        if isinstance(mine, list) and isinstance(stored, list):
            first = next((n for n, (a, b) in enumerate(zip(mine, stored, strict=False))
                          if a != b), min(len(mine), len(stored)))
            shown = mine[first] if first < len(mine) else None
            kept = stored[first] if first < len(stored) else None
            found.append(f"{key}: workflow {len(mine)}, store {len(stored)}, from [{first}] "
                         f"workflow {str(shown)[:200]} / store {str(kept)[:200]}")
        else:
            found.append(f"{key}: workflow {str(mine)[:80]}, store {str(stored)[:80]}")
    return found

"""Two workers and two API processes against one Temporal dev server and one PostgreSQL (issue
12, "More than one of everything"): a partner system sends notifications and decisions through
both APIs, each POST with an Idempotency-Key, some sent again on the other API; under load one
worker and one API are SIGKILLed (and stay down); then the counts: cases, case numbers, letters,
idempotency, and how the work was shared between the workers.

    .venv/bin/python -m bench.scale_out                      # 8 cases
    .venv/bin/python -m bench.scale_out --cases 20 --seed 7

Prints the counts and exits 1 if any check fails. `tests/test_scale_out.py` runs it with 4 cases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from infra.binaries import temporal_cli
from infra.dev import _SEARCH_ATTRIBUTE_TYPES
from tests.faults.partner import (
    DSP,
    MARS,
    PARTNERS,
    SSL,
    Partner,
    directory,
    notification,
)
from tests.faults.stack import (
    HOST,
    JWT_SECRET,
    KEYS,
    MailCatcher,
    Ports,
    Process,
    Stack,
    create_database,
)
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parents[1]
RETRY_FOR_S = 90.0
DONE = ("done", "done_late")


def script() -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """Each case after its notification: the partners' letters, the SSL's recommendation, the
    three DSPs' decisions, the Panel notified (Flowchart 1 up to the Rapid Review's start)."""
    steps: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        ("letters/inform-partners", MARS, {}),
        ("ssl-recommendation", SSL, {"criteria_met": True, "recommend_panel_notification": True,
                                     "rationale": "Unexplained injuries, two agencies"}),
    ]
    steps += [("dsp-decision", DSP[p], {"partner": p, "criteria_met": True,
                                        "rationale": "Criteria met"}) for p in PARTNERS]
    steps.append(("panel-notification", DSP["local_authority"],
                  {"notified_at": datetime.now(UTC).isoformat(), "reference": "CSPN-SCALE"}))
    return steps


REQUESTS_PER_CASE = 1 + len(script())


@dataclass
class Counts:
    cases: int
    seed: int
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failovers: int = 0  # requests sent again on the other API after no answer
    replays: int = 0  # requests sent again, same key, on the other API after an answer
    killed: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    cases_answered: int = 0
    cases_stored: int = 0
    cases_in_temporal: int = 0
    case_numbers: list[str] = field(default_factory=list)
    emails_at_catcher: int = 0
    emails_in_outbox: int = 0
    emails_uncertain: int = 0
    emails_settled: list[str] = field(default_factory=list)  # by the MARS team, as in the suite
    keys_sent: int = 0
    keys_stored: int = 0
    settlements_sent: int = 0  # the MARS team's answers on uncertain letters (a key each)
    tasks_by_worker: dict[str, int] = field(default_factory=dict)
    tasks_after_kill: dict[str, int] = field(default_factory=dict)
    # --- each must be empty
    cases_lost: list[str] = field(default_factory=list)
    duplicate_cases: list[str] = field(default_factory=list)
    duplicate_numbers: list[str] = field(default_factory=list)
    steps_lost: list[str] = field(default_factory=list)
    steps_recorded_twice: list[str] = field(default_factory=list)
    replay_mismatches: list[str] = field(default_factory=list)
    duplicate_emails: list[str] = field(default_factory=list)
    lost_emails: list[str] = field(default_factory=list)
    unsettled_emails: list[str] = field(default_factory=list)
    stuck_keys: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    work_not_shared: list[str] = field(default_factory=list)

    CHECKS = ("cases_lost", "duplicate_cases", "duplicate_numbers", "steps_lost",
              "steps_recorded_twice", "replay_mismatches", "duplicate_emails", "lost_emails",
              "unsettled_emails", "stuck_keys", "server_errors", "work_not_shared")

    @property
    def failed(self) -> list[str]:
        return [name for name in self.CHECKS if getattr(self, name)]

    def summary(self) -> str:
        numbers = sorted(self.case_numbers)
        lines = [
            f"scale-out run: seed {self.seed}, 2 workers and 2 APIs, {self.cases} cases, "
            f"{self.requests} requests in {self.elapsed_s:.0f} s; killed under load: "
            f"{', '.join(self.killed) or 'nothing'}",
            f"  answers: {dict(sorted(self.statuses.items()))}; {self.replays} sent again on "
            f"the other API with the same key, {self.failovers} moved to it for want of an answer",
            f"  cases: {self.cases_answered} answered, {self.cases_stored} stored, "
            f"{self.cases_in_temporal} in Temporal; numbers {len(set(numbers))} unique of "
            f"{len(numbers)} ({numbers[0] if numbers else '-'} .. "
            f"{numbers[-1] if numbers else '-'})",
            f"  e-mails: {self.emails_in_outbox} in the outbox, {self.emails_at_catcher} at the "
            f"catcher, {self.emails_uncertain} uncertain, settled by the MARS team: "
            f"{self.emails_settled}",
            f"  idempotency: {self.keys_sent} keys sent ({self.settlements_sent} of them the "
            f"MARS team's settlements), {self.keys_stored} stored",
            f"  work: tasks by worker {self.tasks_by_worker}; after the kill "
            f"{self.tasks_after_kill}",
        ]
        for name in self.CHECKS:
            found: list[str] = getattr(self, name)
            lines.append(f"  {name}: {len(found)}" + (f"  e.g. {found[:3]}" if found else ""))
        return "\n".join(lines)


class TwoApis:
    """The partner system, with both APIs' addresses: each POST goes to the next API in turn,
    moves to the other when it gets no answer (a load balancer's failover), and some are sent
    again, same key, on the other API to check that both give the one answer."""

    def __init__(self, urls: list[str], counts: Counts, rng: random.Random,
                 on_request: Any) -> None:
        self.http = [httpx.AsyncClient(base_url=url, timeout=30.0) for url in urls]
        self.counts = counts
        self.rng = rng
        self.turn = 0
        self.on_request = on_request
        self.keys: set[str] = set()

    async def close(self) -> None:
        for client in self.http:
            await client.aclose()

    async def _send(self, first: int, path: str, body: Any, headers: dict[str, str],
                    key: str) -> tuple[int, httpx.Response | None]:
        """Send until answered (not 5xx, not "in progress"); the API that answered."""
        api = first
        deadline = time.monotonic() + RETRY_FOR_S
        attempts = 0
        while time.monotonic() < deadline:
            attempts += 1
            try:
                response = await self.http[api].post(
                    path, json=body, headers={**headers, "Idempotency-Key": key})
            except httpx.TransportError:
                self.counts.failovers += 1
                api = 1 - api
                await asyncio.sleep(0.2)
                continue
            self.counts.statuses[response.status_code] += 1
            if response.status_code >= 500 and response.status_code != 503:
                self.counts.server_errors.append(f"{response.status_code} POST {path}")
            if response.status_code >= 500 or (response.status_code == 409
                                               and "Retry-After" in response.headers):
                await asyncio.sleep(min(0.3 * attempts, 2.0))
                continue
            return api, response
        return api, None

    async def post(self, path: str, body: Any, headers: dict[str, str]) -> httpx.Response | None:
        await self.on_request()
        key = str(uuid.uuid4())
        self.keys.add(key)
        self.turn = 1 - self.turn
        api, response = await self._send(self.turn, path, body, headers, key)
        if response is not None and self.rng.random() < 0.35:
            # The partner did not see the answer: it sends the request again to the other API.
            self.counts.replays += 1
            _, again = await self._send(1 - api, path, body, headers, key)
            if again is None or (again.status_code, again.json()) != (
                    response.status_code, response.json()):
                self.counts.replay_mismatches.append(
                    f"POST {path}: {response.status_code} then "
                    f"{None if again is None else again.status_code}")
        return response

    async def get(self, path: str) -> httpx.Response | None:
        for client in (self.http[self.turn], self.http[1 - self.turn]):
            with contextlib.suppress(httpx.TransportError):
                return await client.get(path, headers=MARS)
        return None


@dataclass
class ScaleStack(Stack):
    """The fault suite's stack (tests/faults/stack.py) with two workers and two APIs, and the
    store reached directly (no proxy: nothing here takes the store away)."""

    api_ports: list[int] = field(default_factory=list)

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.direct_url = await create_database(self.database)
        self.engine = create_async_engine(self.direct_url)
        self.catcher = MailCatcher(self.ports.take())
        self.catcher.start()
        self.temporal_port = self.ports.take()
        ui_port = self.ports.take()
        self.api_ports = [self.ports.take(), self.ports.take()]
        self.api_port = self.api_ports[0]
        temporal = [temporal_cli(), "server", "start-dev",
                    "--db-filename", str(self.workdir / "temporal.db"),
                    "--ip", HOST, "--port", str(self.temporal_port),
                    "--ui-port", str(ui_port), "--headless", "--log-level", "error"]
        for key in sa.ALL:
            temporal += ["--search-attribute",
                         f"{key.name}={_SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type]}"]
        env = {**os.environ, "CSPR_ENCRYPTION_KEYS": KEYS, "CSPR_JWT_SECRET": JWT_SECRET,
               "CSPR_TEMPORAL_ADDRESS": f"{HOST}:{self.temporal_port}",
               "CSPR_TASK_QUEUE": self.task_queue, "CSPR_DATABASE_URL": self.direct_url,
               "CSPR_SMTP_HOST": HOST, "CSPR_SMTP_PORT": str(self.catcher.port),
               "CSPR_SMTP_STARTTLS": "false", "CSPR_SMTP_TIMEOUT_SECONDS": "10",
               "PYTHONUNBUFFERED": "1"}
        for name in ("CSPR_SMTP_USERNAME", "CSPR_SMTP_PASSWORD", "CSPR_JWT_PUBLIC_KEY",
                     "CSPR_JWT_JWKS_URL", "CSPR_WORKER_METRICS_PORT",
                     "CSPR_WORKER_SDK_METRICS_PORT", "CSPR_API_METRICS_PORT"):
            env.pop(name, None)
        self.processes = {"temporal": Process("temporal", temporal, env,
                                              self.workdir / "temporal.log")}
        for n in (1, 2):
            self.processes[f"worker-{n}"] = Process(
                f"worker-{n}", [sys.executable, str(ROOT / "worker.py")], env,
                self.workdir / f"worker-{n}.log")
            self.processes[f"api-{n}"] = Process(
                f"api-{n}", [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
                             "--host", HOST, "--port", str(self.api_ports[n - 1]),
                             "--log-level", "warning"],
                {**env, "CSPR_API_PORT": str(self.api_ports[n - 1])},
                self.workdir / f"api-{n}.log")
        await self.start_temporal()
        for name, process in self.processes.items():
            if name != "temporal":
                process.start()
        for port in self.api_ports:
            self.api_port = port
            await self._wait(f"the API on {port}", self._api_up)

    @property
    def api_urls(self) -> list[str]:
        return [f"http://{HOST}:{port}" for port in self.api_ports]

    async def stop(self) -> None:
        running = list(reversed(list(self.processes.values())))
        for process in running:
            process.terminate()
        for process in running:
            process.wait_or_kill(5.0)
        self.processes = {}
        await super().stop()


def identities(stack: ScaleStack) -> dict[str, str]:
    """Each worker's Temporal identity (the SDK's default, pid@host) to its name."""
    host = os.uname().nodename
    return {f"{p.popen.pid}@{host}": name for name, p in stack.processes.items()
            if name.startswith("worker") and p.popen is not None}


async def run(cases: int, seed: int, workdir: Path) -> Counts:
    counts = Counts(cases=cases, seed=seed)
    rng = random.Random(seed)
    stack = ScaleStack(workdir, ports=Ports())
    started = time.monotonic()
    try:
        await stack.start()
        await _run(stack, counts, rng)
    finally:
        await stack.stop()
    counts.elapsed_s = time.monotonic() - started
    return counts


async def _run(stack: ScaleStack, counts: Counts, rng: random.Random) -> None:
    assert stack.client is not None
    workers = identities(stack)  # before the kill: the killed one's pid is kept
    total = counts.cases * REQUESTS_PER_CASE
    kill_at = max(2, int(total * 0.4))
    sent = 0
    killed_at = 0.0

    async def on_request() -> None:
        nonlocal sent, killed_at
        sent += 1
        if sent == kill_at:
            # Under load: the cases in flight have requests waiting on both.
            stack.processes["worker-1"].kill()
            stack.processes["api-1"].kill()
            killed_at = time.time()
            counts.killed = ["worker-1", "api-1"]

    async with httpx.AsyncClient(base_url=stack.api_urls[0], timeout=30.0) as http:
        async def nothing(_path: str) -> None:
            return None
        await directory(Partner(http, nothing))
    partner = TwoApis(stack.api_urls, counts, rng, on_request)
    answered: dict[str, str] = {}  # reference -> case id
    recorded: dict[str, Counter[str]] = {}
    try:
        async def one(n: int) -> None:
            reference = f"SCALE-{counts.seed}-{n:03d}"
            await asyncio.sleep(n * 0.2)
            response = await partner.post("/v1/notifications",
                                          notification(reference, random.Random(n)), MARS)
            if response is None or response.status_code != 201:
                counts.cases_lost.append(f"{reference}: "
                                         f"{None if response is None else response.status_code}")
                return
            case_id = response.json()["case_id"]
            answered[reference] = case_id
            asked = recorded.setdefault(case_id, Counter())
            for path, who, body in script():
                step = path.removeprefix("letters/").replace("-", "_")
                response = await partner.post(f"/v1/cases/{case_id}/{path}", body, who)
                if response is None or not 200 <= response.status_code < 300:
                    counts.steps_lost.append(f"{case_id} {step}: "
                                             f"{None if response is None else response.text[:120]}")
                    continue
                asked[step] += 1
                if path.startswith("letters/"):
                    await _step_done(stack, partner, counts, case_id, step)

        await asyncio.gather(*(one(n) for n in range(counts.cases)))
        await _settle(stack)
        await _check(stack, partner, counts, answered, recorded, workers, killed_at)
    finally:
        await partner.close()


async def _step_done(stack: ScaleStack, partner: TwoApis, counts: Counts, case_id: str,
                     step: str, wait_s: float = 60.0) -> None:
    """Until the step's letters have gone. A letter a kill cut off mid-send (`uncertain`) is
    settled as the MARS team would, once the case has stopped sending it (the fault suite's
    MarsTeam): `received` if the catcher holds its Message-ID, else `resend`."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        response = await partner.get(f"/v1/cases/{case_id}")
        if response is not None and response.status_code == 200:
            case = response.json()
            status = {s["step"]: s["status"] for s in case["steps"]}.get(step)
            if status in DONE:
                return
            if step not in case.get("letters_in_flight", []):
                await _settle_uncertain(stack, partner, counts, case_id, step)
        await asyncio.sleep(0.3)


async def _settle_uncertain(stack: ScaleStack, partner: TwoApis, counts: Counts, case_id: str,
                            step: str) -> None:
    assert stack.engine is not None
    assert stack.catcher is not None
    mail = await partner.get(f"/v1/cases/{case_id}/mail")
    if mail is None or mail.status_code != 200:
        return
    for message in mail.json():
        if message["status"] != "uncertain" or message["step"] != step:
            continue
        async with stack.engine.connect() as conn:
            message_id = (await conn.execute(
                text("select message_id from outbox where id = :id"),
                {"id": message["id"]})).scalar_one()
        outcome = "received" if message_id in stack.catcher.message_ids else "resend"
        counts.settlements_sent += 1
        answer = await partner.post(f"/v1/cases/{case_id}/mail/{message['id']}/resolution",
                                    {"outcome": outcome}, MARS)
        if answer is not None and answer.status_code == 200:
            counts.emails_settled.append(f"{case_id} message {message['id']} {outcome}")


async def _settle(stack: ScaleStack, wait_s: float = 30.0) -> None:
    """Until no e-mail is on its way and no key is being answered."""
    assert stack.engine is not None
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        async with stack.engine.connect() as conn:
            busy = (await conn.execute(text(
                "select (select count(*) from outbox where status in ('pending', 'sending')) + "
                "(select count(*) from idempotency_keys where status_code = 0)"))).scalar_one()
        if not busy:
            return
        await asyncio.sleep(0.5)


async def _check(stack: ScaleStack, partner: TwoApis, counts: Counts, answered: dict[str, str],
                 recorded: dict[str, Counter[str]], workers: dict[str, str],
                 killed_at: float) -> None:
    assert stack.engine is not None
    assert stack.client is not None
    assert stack.catcher is not None
    counts.requests = sum(counts.statuses.values())
    counts.cases_answered = len(set(answered.values()))
    async with stack.engine.connect() as conn:
        stored = [r.case_id for r in (await conn.execute(text("select case_id from cases")))]
        children = (await conn.execute(text("select reference, case_id from children"))).all()
        steps = {(r.case_id, r.step): r.status for r in (await conn.execute(text(
            "select case_id, step, status from case_steps")))}
        trail = Counter((r.case_id, r.step) for r in (await conn.execute(text(
            "select case_id, step from audit_events where kind = 'recorded'"))))
        outbox = (await conn.execute(text(
            "select message_id, status, case_id, purpose from outbox"))).all()
        keys = (await conn.execute(text(
            "select key, status_code, method_path from idempotency_keys"))).all()
    counts.cases_stored = len(stored)
    counts.case_numbers = stored
    counts.duplicate_numbers = [c for c, n in Counter(stored).items() if n > 1]
    counts.duplicate_numbers += [c for c, n in Counter(answered.values()).items() if n > 1]
    by_reference: dict[str, set[str]] = {}
    for reference, case_id in children:
        by_reference.setdefault(reference, set()).add(case_id)
    counts.duplicate_cases = [f"{ref}: {sorted(ids)}" for ref, ids in by_reference.items()
                              if len(ids) > 1]
    in_temporal: dict[str, WorkflowExecutionStatus | None] = {}
    async for execution in stack.client.list_workflows("WorkflowType = 'SeriousIncident'"):
        in_temporal[execution.id] = execution.status
    for case_id in answered.values():  # the list is eventually consistent: ask each
        with contextlib.suppress(Exception):
            in_temporal[case_id] = (await stack.client.get_workflow_handle(case_id)
                                    .describe()).status
    counts.cases_in_temporal = len(in_temporal)
    for reference, case_id in answered.items():
        if case_id not in stored or case_id not in in_temporal:
            counts.cases_lost.append(f"{reference} {case_id}: stored {case_id in stored}, "
                                     f"in Temporal {case_id in in_temporal}")
    extra = (set(stored) | set(in_temporal)) - set(answered.values())
    counts.cases_lost += [f"{c}: a case nobody was answered" for c in sorted(extra)]

    for case_id, asked in recorded.items():
        for step in asked:
            if steps.get((case_id, step)) not in DONE:
                counts.steps_lost.append(f"{case_id} {step}: {steps.get((case_id, step))}")
    for (case_id, step), n in trail.items():
        if n > recorded.get(case_id, Counter())[step]:
            counts.steps_recorded_twice.append(f"{case_id} {step} x{n}")

    at_catcher = Counter(stack.catcher.message_ids)
    counts.emails_at_catcher = sum(at_catcher.values())
    counts.emails_in_outbox = len(outbox)
    counts.emails_uncertain = sum(1 for r in outbox if r.status == "uncertain")
    counts.unsettled_emails = [f"{r.case_id} message {r.id}" for r in outbox
                               if r.status == "uncertain"]
    counts.duplicate_emails = [f"{m} x{n}" for m, n in at_catcher.items() if n > 1]
    known = {r.message_id for r in outbox}
    counts.duplicate_emails += [f"{m}: not in the outbox" for m in at_catcher if m not in known]
    counts.lost_emails = [f"{r.case_id} {r.purpose} {r.status}" for r in outbox
                          if r.message_id not in at_catcher and r.status != "uncertain"]

    counts.keys_sent = len(partner.keys)
    mine = [k for k in keys if k.key in partner.keys]
    counts.keys_stored = len(mine)
    counts.stuck_keys = [k.method_path for k in mine if k.status_code == 0]

    # Who did the work: every workflow task completed and activity started, by worker.
    by_worker: Counter[str] = Counter()
    after_kill: Counter[str] = Counter()
    for case_id in set(answered.values()):
        history = await stack.client.get_workflow_handle(case_id).fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                identity = event.workflow_task_completed_event_attributes.identity
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                identity = event.activity_task_started_event_attributes.identity
            else:
                continue
            name = workers.get(identity, identity)
            by_worker[name] += 1
            if event.event_time.ToDatetime().timestamp() > killed_at:
                after_kill[name] += 1
    counts.tasks_by_worker = dict(sorted(by_worker.items()))
    counts.tasks_after_kill = dict(sorted(after_kill.items()))
    for name in ("worker-1", "worker-2"):
        if not by_worker[name]:
            counts.work_not_shared.append(f"{name} did nothing")
    if after_kill["worker-1"]:
        counts.work_not_shared.append(f"worker-1 worked after its kill: {after_kill['worker-1']}")
    if not after_kill["worker-2"]:
        counts.work_not_shared.append("nobody took over after the kill")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(1, 2**31))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cspr-scale-") as workdir:
        counts = asyncio.run(run(args.cases, args.seed, Path(workdir)))
    print(counts.summary(), flush=True)
    sys.exit(1 if counts.failed else 0)


if __name__ == "__main__":
    main()

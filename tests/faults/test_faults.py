"""Issue 11's fault suite: a partner system walks 4 cases through the real stack (Temporal dev
server, worker and API as processes, PostgreSQL behind a proxy, an SMTP catcher) with its
Idempotency-Keys, while the worker is SIGKILLed 5 times, Temporal is killed and restarted once
and the store refuses connections for 20 s; the MARS team settles each e-mail a kill cut off
mid-send (received if the catcher has it, else sent again); then each test below checks one
count.

The faults fall where a seed says: it is printed with the counts at the end of the run (and in
every failure); `CSPR_FAULT_SEED=<seed> .venv/bin/pytest -q tests/faults` runs the same schedule.
The processes' logs stay in pytest's temporary directory (printed too).
"""

from __future__ import annotations

import pytest

from tests.faults.run import Counts, Plan, run

WORKER_KILLS = 5


def plan() -> Plan:
    # 4 cases at once: the faults stall every case alike, so the run's length is mostly theirs;
    # 6 cases took ~50 s more of CI for no fault more (the soak, bench/soak.py, runs 100).
    return Plan(seed=Plan.seed_from_env(), cases=4, parallel=4, worker_kills=WORKER_KILLS,
                temporal_restarts=1, store_outage_s=20.0)


@pytest.fixture(scope="module")
async def counts(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Counts:
    found = await run(plan(), tmp_path_factory.mktemp("faults"))
    # Printed as soon as the run is over (a module fixture's teardown prints too late to show).
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        for line in found.summary().splitlines():
            reporter.write_line(line)
    return found


def none(counts: Counts, name: str) -> None:
    found: list[str] = getattr(counts, name)
    assert not found, f"{name}: {len(found)}: {found[:5]}\n{counts.summary()}"


def test_the_faults_fell(counts: Counts) -> None:
    assert (counts.worker_kills, counts.temporal_restarts, counts.store_outages) == (
        WORKER_KILLS, 1, 1), counts.summary()


def test_no_case_lost(counts: Counts) -> None:
    none(counts, "cases_lost")


def test_no_orphan_case(counts: Counts) -> None:
    none(counts, "orphan_cases")


def test_no_duplicate_case(counts: Counts) -> None:
    none(counts, "duplicate_cases")


def test_no_step_lost(counts: Counts) -> None:
    none(counts, "steps_lost")


def test_every_step_answered_as_first_applied(counts: Counts) -> None:
    none(counts, "steps_refused")


def test_no_duplicate_audit_row(counts: Counts) -> None:
    none(counts, "duplicate_audit_rows")


def test_no_duplicate_email(counts: Counts) -> None:
    none(counts, "duplicate_emails")


def test_no_lost_email(counts: Counts) -> None:
    none(counts, "lost_emails")


def test_no_email_left_uncertain(counts: Counts) -> None:
    none(counts, "unsettled_emails")


def test_no_stuck_case(counts: Counts) -> None:
    none(counts, "stuck_cases")


def test_no_stuck_idempotency_key(counts: Counts) -> None:
    none(counts, "stuck_keys")


def test_the_store_is_what_each_workflow_says(counts: Counts) -> None:
    none(counts, "store_differs")


def test_no_server_error_but_503(counts: Counts) -> None:
    none(counts, "server_errors")

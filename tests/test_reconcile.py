"""Backup, restore and reconcile, on the embedded SQLite store and a dev server of the test's
own: back the store up online while a case runs, record more (and open another case), restore
the backup, and `cspr reconcile` brings back from the workflows everything the backup missed,
to the row, with nothing written twice."""

from __future__ import annotations

import argparse
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.calendar import WorkingDayCalendar
from infra.backup import backup, sqlite_path
from infra.binaries import temporal_cli
from infra.cli import run, run_reconcile
from infra.reconcile import reconcile
from infra.settings import Settings
from store.db import make_engine, make_sessionmaker
from tests.conftest import CONVERTER, TEST_JWT_SECRET, TEST_KEYS, as_role, http_client
from tests.database import upgrade
from tests.smtp import shared_server
from tests.test_api import PARTNERS, SSL, body, dsp, ok
from worker import build_worker
from workflows import search_attributes as sa

# What the store holds about a case, as rows; ids and write times are the store's own.
TABLES = {
    "cases": "case_id, kind, procedure_version, stage, outcome, overdue, next_deadline, "
             "received_at, incident_date, possible_duplicate_of, snapshot",
    "children": "case_id, position, reference, date_of_birth, looked_after, care_leaver",
    "case_steps": "case_id, step, due_date, statutory, status, completed_on",
    "case_parts": "case_id, part, stage, overdue, next_deadline, snapshot",
    "audit_events": "case_id, part, sequence, at, kind, step, detail, channel, actor_subject, "
                    "actor_role, actor_organisation",
    "case_numbers": "year, last",
}


def rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as db:
        return {table: sorted(db.execute(f"select {columns} from {table}").fetchall())
                for table, columns in TABLES.items()}


@pytest.fixture
async def own_server() -> AsyncIterator[Client]:
    """A dev server of the test's own: reconcile reads every workflow the server holds."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), data_converter=CONVERTER,
        search_attributes=sa.ALL, dev_server_log_level="error")
    yield env.client
    await env.shutdown()


class Service:
    """The worker and the API on the SQLite store at `path`."""

    def __init__(self, client: Client, path: Path) -> None:
        self.client, self.path = client, path
        self.task_queue = f"tq-{uuid.uuid4()}"

    async def run(self, act: Any) -> Any:
        engine = make_engine(f"sqlite+aiosqlite:///{self.path}")
        sessions = make_sessionmaker(engine)
        settings = Settings(encryption_keys=TEST_KEYS, task_queue=self.task_queue,
                            jwt_secret=TEST_JWT_SECRET)
        try:
            async with build_worker(self.client, self.task_queue, WorkingDayCalendar(),
                                    sessions, mailer=shared_server()[1]):
                app = create_app(settings, self.client, sessions)
                async with app.router.lifespan_context(app), \
                        http_client(app, as_role("mars_team")) as api:
                    return await act(api, sessions)
        finally:
            await engine.dispose()


async def test_backup_restore_and_reconcile_lose_nothing_and_write_nothing_twice(
    own_server: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, saved, expected = tmp_path / "cspr.db", tmp_path / "backup.db", tmp_path / "lived.db"
    engine = make_engine(f"sqlite+aiosqlite:///{store}")
    async with engine.begin() as conn:
        await conn.run_sync(upgrade)
    await engine.dispose()
    service = Service(own_server, store)

    async def before_and_after_the_backup(api: Any, _: Any) -> tuple[str, str]:
        first = (await api.post("/v1/notifications", json=body())).json()["case_id"]
        await ok(api, first, "inform-partners")
        # Online, while the worker and the API have the store open.
        assert backup(store, saved) > 0
        await ok(api, first, "ssl-recommendation", SSL, criteria_met=True,
                 recommend_panel_notification=True, rationale="Criteria met")
        for partner in PARTNERS:
            case = await ok(api, first, "dsp-decision", dsp(partner), partner=partner,
                            criteria_met=True, rationale="Agreed")
        assert case["stage"] == "rapid_review"
        second = (await api.post("/v1/notifications", json=body())).json()["case_id"]
        await ok(api, second, "inform-partners")
        return first, second

    first, second = await service.run(before_and_after_the_backup)
    backup(store, expected)  # the store as it lived: what the restore must come back to
    lived = rows(expected)

    # The store is lost; last night's backup comes back (SQLite's backup API, into place).
    backup(saved, store)
    restored = rows(store)
    assert restored != lived
    assert second not in {r[0] for r in restored["cases"]}

    async def reconciled(_: Any, sessions: Any) -> Any:
        report = await reconcile(own_server, sessions)
        again = await reconcile(own_server, sessions)
        # `cspr reconcile` as an operator runs it, on the same store and server.
        for name, value in (("CSPR_TEMPORAL_ADDRESS",
                             own_server.service_client.config.target_host),
                            ("CSPR_ENCRYPTION_KEYS", TEST_KEYS)):
            monkeypatch.setenv(name, value)
        args = argparse.Namespace(open_only=True)
        said = await run_reconcile(args, {"CSPR_DATABASE_URL": f"sqlite+aiosqlite:///{store}"})
        return report, again, said

    report, again, said = await service.run(reconciled)
    assert said == "compared 2 workflow(s); the store matches them"
    assert {(r.workflow_id, r.part) for r in report.repairs} == {(first, "case"),
                                                                  (second, "case")}
    assert report.compared == 2
    assert not report.unreachable
    assert not again.changed  # a second run finds the store equal to the workflows
    assert rows(store) == lived

    # After the repair the cases go on, and the next case number is a new one.
    async def go_on(api: Any, _: Any) -> str:
        await ok(api, first, "panel-notification", dsp("local_authority"),
                 notified_at=datetime.now(UTC).isoformat(), reference="CSPN-2026-77")
        created = await api.post("/v1/notifications", json=body())
        assert created.status_code == 201, created.text
        case_id: str = created.json()["case_id"]
        return case_id

    third = await service.run(go_on)
    assert third not in (first, second)
    after = rows(store)
    steps = {(r[0], r[1]): r[4] for r in after["case_steps"]}
    assert steps[(first, "panel_notification")] == "done"


def test_backup_refuses_what_is_not_an_sqlite_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pg_dump"):
        sqlite_path("postgresql+asyncpg://postgres@127.0.0.1/cspr")
    assert sqlite_path(f"sqlite+aiosqlite:///{tmp_path}/cspr.db") == tmp_path / "cspr.db"
    with pytest.raises(ValueError, match="no such database"):
        backup(tmp_path / "none.db", tmp_path / "copy.db")


def test_cspr_backup_writes_a_copy_that_opens(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "cspr.db"
    with sqlite3.connect(source) as db:
        db.execute("create table t (x)")
        db.execute("insert into t values (1)")
    env = {"CSPR_DATABASE_URL": f"sqlite+aiosqlite:///{source}"}
    assert run(["backup", "--to", str(tmp_path / "copy.db")], env) == 0
    assert "backed up" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "copy.db") as db:
        assert db.execute("select x from t").fetchall() == [(1,)]
    env = {"CSPR_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/cspr"}
    assert run(["backup", "--to", str(tmp_path / "x.db")], env) == 1
    assert "pg_dump" in capsys.readouterr().err

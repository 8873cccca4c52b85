"""An open case is read from the case store's copy (issue 13: a query replays a workflow no
worker has cached), which its workflow writes before it answers a record; a copy known to be
behind (a projection the store did not take: store.owed) is not: the workflow is asked until
it has written it again. Through the real API, on the real PostgreSQL, the store really cut
(a relay in front of it) while a decision is recorded; time skipped for the projection's
attempts and retry."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient
from sqlalchemy import select, text
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from domain.calendar import london_date
from domain.case import CaseState, EventKind, Stage
from infra.settings import Settings
from store import owed
from store.db import Sessionmaker
from store.models import Case, CasePart, ProjectionOwed
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS, as_role, http_client, new_worker
from tests.factories import case_when, signal, start_case
from tests.store_proxy import behind_a_proxy
from tests.test_api import new_case
from tests.test_local_review_api import new_review
from workflows.projection import RETRY_AFTER


@asynccontextmanager
async def api_on(env: WorkflowEnvironment, worker: Worker, sessions: Sessionmaker
                 ) -> AsyncIterator[AsyncClient]:
    settings = Settings(encryption_keys=TEST_KEYS, task_queue=worker.task_queue,
                        jwt_secret=TEST_JWT_SECRET)
    app = create_app(settings, env.client, sessions)
    async with app.router.lifespan_context(app), http_client(app, as_role("mars_team")) as http:
        yield http


async def stored(sessions: Sessionmaker, case_id: str) -> tuple[str | None, int | None]:
    """The stored copy's stage, and the version of a projection owed for it (None: none)."""
    async with sessions() as s:
        stage = await s.scalar(select(Case.stage).where(Case.case_id == case_id))
        owed = await s.scalar(select(ProjectionOwed.version).where(
            ProjectionOwed.case_id == case_id, ProjectionOwed.part == "case"))
    return stage, owed


async def until(check: object, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.2)


async def test_an_open_case_is_the_stored_copy_even_with_its_worker_down(
    dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """The store's copy is the answer: with no worker to answer a query, the read does not
    wait for one (it did: 5 s, then the stored copy marked "may be behind")."""
    worker = new_worker(dev_env.client, sessions)
    async with api_on(dev_env, worker, sessions) as http:
        async with worker:
            case_id = await new_case(http)
            recorded = await http.post(f"/v1/cases/{case_id}/inform-partners", json={})
            assert recorded.status_code == 200, recorded.text
        # Written before the record's answer: the read that follows has it.
        began = time.monotonic()
        read = await http.get(f"/v1/cases/{case_id}")
        took = time.monotonic() - began
        assert read.status_code == 200, read.text
        assert (read.json()["stage"], read.json()["source"]) == ("ssl_recommendation", "store")
        assert read.json()["steps"] == recorded.json()["steps"]
        assert took < 2.0, took
        await dev_env.client.get_workflow_handle(case_id).terminate("test over")


async def test_a_local_review_is_its_stored_copy_unless_that_is_known_to_be_behind(
    api: AsyncClient, dev_env: WorkflowEnvironment, dev_worker: Worker, sessions: Sessionmaker,
) -> None:
    """The LCSPR's read (and the action plan's: the same function) takes the stored copy; a
    copy noted as behind is not taken: its workflow answers."""
    case_id = await new_review(api, dev_env, dev_worker,
                               london_date(datetime.now(UTC)) - timedelta(days=60))
    live = await api.get(f"/v1/cases/{case_id}/local-review")
    assert live.json()["stage"] == "terms_of_reference"
    # A change in the stored copy alone (its workflow knows nothing of it) shows: the read
    # is the store's. Its version far ahead, so a projection of the LCSPR's still on its way
    # is a stale write that leaves it be (it wrote only its version over the changed stage).
    async with sessions.begin() as s:
        row = await s.get(CasePart, (case_id, "local_review"))
        assert row is not None
        row.snapshot = {**row.snapshot, "stage": "review"}
        row.version = version = row.version + 10_000
    assert (await api.get(f"/v1/cases/{case_id}/local-review")).json()["stage"] == "review"
    # Noted as behind (as the worker notes a projection the store did not take): the
    # workflow is asked, and answers its own.
    async with sessions.begin() as s:
        await owed.note(s, {(case_id, "local_review"): version + 1}, datetime.now(UTC))
    read = await api.get(f"/v1/cases/{case_id}/local-review")
    assert read.status_code == 200, read.text
    assert read.json()["stage"] == "terms_of_reference"
    for workflow_id in (f"{case_id}-LCSPR", case_id):
        await dev_env.client.get_workflow_handle(workflow_id).terminate("test over")


async def test_a_decision_recorded_while_the_store_was_down_is_read_from_the_workflow(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    case_id = f"CSPR-2026-SD{uuid.uuid4().hex[:6].upper()}"
    async with behind_a_proxy(sessions) as (proxy, worker_sessions), \
            new_worker(time_env.client, worker_sessions) as worker, \
            api_on(time_env, worker, sessions) as http:
        handle = await start_case(time_env.client, worker.task_queue, case_id,
                                  await time_env.get_current_time())
        await until(lambda: _stage_is(sessions, case_id, Stage.NOTIFIED))
        first = await http.get(f"/v1/cases/{case_id}")
        assert (first.json()["stage"], first.json()["source"]) == ("notified", "store")

        await proxy.cut()
        await signal(handle, "inform_partners")
        # The projection's attempts run out (about four minutes): the case goes on, its
        # stored copy behind.
        case: CaseState | None = None
        for _ in range(20):
            await time_env.sleep(30)
            case = await handle.query("case", result_type=CaseState)
            if any(e.kind is EventKind.PROJECTION_FAILED for e in case.events):
                break
        assert case is not None
        assert case.stage is Stage.SSL_RECOMMENDATION
        assert any(e.kind is EventKind.PROJECTION_FAILED for e in case.events)

        await proxy.restore()
        # The worker notes what it owes as soon as the store answers again.
        await until(lambda: _owed(sessions, case_id))
        assert (await stored(sessions, case_id))[0] == "notified"  # the copy is behind
        read = await http.get(f"/v1/cases/{case_id}")
        assert read.status_code == 200, read.text
        assert (read.json()["stage"], read.json()["source"]) == (
            "ssl_recommendation", "workflow")
        assert "projection_failed" in [e["kind"] for e in read.json()["events"]]

        # At its retry the workflow writes the whole case again: the store answers again.
        await time_env.sleep(RETRY_AFTER.total_seconds() + 60)
        await until(lambda: _stored_is(sessions, case_id, ("ssl_recommendation", None)))
        again = await http.get(f"/v1/cases/{case_id}")
        assert (again.json()["stage"], again.json()["source"]) == (
            "ssl_recommendation", "store")
        assert "projection_restored" in [e["kind"] for e in again.json()["events"]]
        await handle.terminate("test over")


async def test_a_copy_the_store_refuses_is_read_from_the_workflow(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """The store up but refusing the case's row (a check constraint on this case alone): the
    owed projection is noted at once, and the read asks the workflow."""
    case_id = f"CSPR-2026-RF{uuid.uuid4().hex[:6].upper()}"
    constraint = f"refuse_{case_id.lower().replace('-', '_')}"
    async with new_worker(time_env.client, sessions) as worker, \
            api_on(time_env, worker, sessions) as http:
        handle = await start_case(time_env.client, worker.task_queue, case_id,
                                  await time_env.get_current_time())
        await until(lambda: _stage_is(sessions, case_id, Stage.NOTIFIED))
        async with sessions.begin() as s:
            await s.execute(text(f"ALTER TABLE cases ADD CONSTRAINT {constraint} "
                                 f"CHECK (case_id <> '{case_id}') NOT VALID"))
        try:
            await signal(handle, "inform_partners")
            await case_when(handle, lambda c: any(
                e.kind is EventKind.PROJECTION_FAILED for e in c.events))
            await until(lambda: _owed(sessions, case_id))
            read = await http.get(f"/v1/cases/{case_id}")
            assert (read.json()["stage"], read.json()["source"]) == (
                "ssl_recommendation", "workflow")
            assert (await stored(sessions, case_id))[0] == "notified"
        finally:
            async with sessions.begin() as s:
                await s.execute(text(f"ALTER TABLE cases DROP CONSTRAINT {constraint}"))
        await handle.terminate("test over")


async def _stage_is(sessions: Sessionmaker, case_id: str, stage: Stage) -> bool:
    return (await stored(sessions, case_id))[0] == stage.value


async def _owed(sessions: Sessionmaker, case_id: str) -> bool:
    return (await stored(sessions, case_id))[1] is not None


async def _stored_is(sessions: Sessionmaker, case_id: str,
                     expected: tuple[str, int | None]) -> bool:
    return await stored(sessions, case_id) == expected

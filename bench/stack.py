"""The in-process stack the benchmarks share: a Temporal dev server (or the time-skipping
server) on free ports, a fresh schema of the case store on the tests' PostgreSQL (else SQLite),
a worker running the real workflows on a task queue of its own, and the real API served in
process (ASGI). The fault suite's stack (tests/faults/stack.py, used by bench.scale_out) runs
each of these as its own process instead.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from domain.calendar import WorkingDayCalendar
from infra.binaries import temporal_cli, temporal_test_server
from infra.settings import Settings
from store.db import Sessionmaker, make_sessionmaker
from tests.conftest import (
    CONVERTER,
    TEST_JWT_SECRET,
    TEST_KEYS,
    as_role,
    new_worker,
    register_search_attributes,
)
from tests.database import drop, test_database
from tests.smtp import shared_server
from worker import WORKFLOWS, build_worker
from workflows import search_attributes as sa


@dataclass
class BenchStack:
    env: WorkflowEnvironment
    sessions: Sessionmaker
    store_url: str
    settings: Settings
    app: FastAPI
    http: AsyncClient  # the API, as the MARS team
    worker: Worker | None
    workflows: Sequence[type] = ()

    async def restart_worker(self) -> None:
        """Stop the worker and start a new one on its task queue: a restarted worker, whose
        cache holds no workflow (the next query of a case replays its history)."""
        assert self.worker is not None
        await self.worker.__aexit__(None, None, None)
        self.worker = build_worker(self.env.client, self.task_queue, WorkingDayCalendar(),
                                   self.sessions, self.workflows, mailer=shared_server()[1])
        await self.worker.__aenter__()

    @property
    def task_queue(self) -> str:
        return self.settings.task_queue


@asynccontextmanager
async def bench_stack(*, worker: bool = True, time_skipping: bool = False,
                      extra_workflows: Sequence[type] = ()) -> AsyncIterator[BenchStack]:
    """The stack, torn down (schema dropped, servers stopped) on leaving."""
    with tempfile.TemporaryDirectory(prefix="cspr-bench-") as tmp:
        engine, schema, url = await test_database(Path(tmp))
        sessions = make_sessionmaker(engine)
        try:
            if time_skipping:
                env = await WorkflowEnvironment.start_time_skipping(
                    test_server_existing_path=temporal_test_server(), data_converter=CONVERTER)
                await register_search_attributes(env.client)
            else:
                env = await WorkflowEnvironment.start_local(
                    dev_server_existing_path=temporal_cli(), data_converter=CONVERTER,
                    search_attributes=sa.ALL, dev_server_log_level="error")
            try:
                running = None
                if worker:
                    running = new_worker(env.client, sessions,
                                         workflows=[*WORKFLOWS, *extra_workflows])
                task_queue = running.task_queue if running else "cspr-bench"
                settings = Settings(encryption_keys=TEST_KEYS, jwt_secret=TEST_JWT_SECRET,
                                    task_queue=task_queue)
                app = create_app(settings, env.client, sessions)
                stack: BenchStack | None = None
                if running is not None:
                    await running.__aenter__()
                try:
                    async with app.router.lifespan_context(app), AsyncClient(
                            transport=ASGITransport(app=app), base_url="http://bench",
                            headers=as_role("mars_team"), timeout=60.0) as http:
                        # As a served app's lifespan does (api/app.py).
                        gc.collect()
                        gc.freeze()
                        stack = BenchStack(env, sessions, url, settings, app, http, running,
                                           [*WORKFLOWS, *extra_workflows])
                        yield stack
                finally:
                    if stack is not None and stack.worker is not None:
                        await stack.worker.__aexit__(None, None, None)
                    elif stack is None and running is not None:
                        await running.__aexit__(None, None, None)
            finally:
                await env.shutdown()
        finally:
            await drop(engine, schema, url)

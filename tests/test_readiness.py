"""Readiness says what is missing (the store, Temporal, a worker), and a case whose workflow
does not answer is read from the case store, marked as such. Real servers, real store."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from infra.settings import Settings
from store.db import Sessionmaker, make_engine, make_sessionmaker
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS, as_role, http_client, new_worker
from tests.database import POSTGRES


def _settings(task_queue: str) -> Settings:
    return Settings(encryption_keys=TEST_KEYS, task_queue=task_queue, jwt_secret=TEST_JWT_SECRET)


async def _app(settings: Settings, dev_env: WorkflowEnvironment, sessions: Sessionmaker
               ) -> AsyncIterator[AsyncClient]:
    app: FastAPI = create_app(settings, dev_env.client, sessions)
    async with app.router.lifespan_context(app), http_client(app, as_role("mars_team")) as http:
        yield http


def _missing(response: Response) -> dict[str, str]:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    return {e["field"]: e["reason"] for e in response.json()["errors"]}


@pytest.fixture
async def unpolled(dev_env: WorkflowEnvironment, sessions: Sessionmaker
                   ) -> AsyncIterator[AsyncClient]:
    """The API on a task queue that no worker polls."""
    async for http in _app(_settings(f"tq-nobody-{uuid.uuid4()}"), dev_env, sessions):
        yield http


async def test_ready_with_a_store_temporal_and_a_worker(api: AsyncClient) -> None:
    assert (await api.get("/readyz")).json() == {"status": "ready"}


async def test_not_ready_without_a_worker_and_says_so(unpolled: AsyncClient) -> None:
    missing = _missing(await unpolled.get("/readyz"))
    assert list(missing) == ["worker"]
    assert "no worker polls the task queue" in missing["worker"]


async def test_not_ready_without_the_store_and_says_so(
    dev_env: WorkflowEnvironment, dev_worker: Worker,
) -> None:
    engine = make_engine(re.sub(r"@[^/]+/", "@127.0.0.1:9002/", POSTGRES))
    try:
        async for http in _app(_settings(dev_worker.task_queue), dev_env,
                               make_sessionmaker(engine)):
            assert list(_missing(await http.get("/readyz"))) == ["store"]
    finally:
        await engine.dispose()


async def test_a_case_whose_worker_is_down_is_read_from_the_store_marked_so(
    dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    worker = new_worker(dev_env.client, sessions)
    body = {"notifying_agency": "Humberside Police",
            "incident": {"date": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
                         "harm": "serious_harm", "abuse_or_neglect": "suspected"},
            "children": [{"reference": f"DOWN-{uuid.uuid4().hex[:8]}"}]}
    async for http in _app(_settings(worker.task_queue), dev_env, sessions):
        async with worker:
            opened = await http.post("/v1/notifications", json=body)
            assert opened.status_code == 201, opened.text
            case_id = opened.json()["case_id"]
            live = await http.get(f"/v1/cases/{case_id}")
            assert live.json()["source"] == "store"  # open cases too (issue 13)
        # The worker is gone: the query cannot be answered; the stored copy is.
        stored = await http.get(f"/v1/cases/{case_id}")
        assert stored.status_code == 200, stored.text
        assert stored.json()["source"] == "store"
        assert stored.json()["steps"] == live.json()["steps"]
        assert stored.json()["stage"] == live.json()["stage"]

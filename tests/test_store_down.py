"""The case store unreachable: every endpoint answers 503 with Retry-After (or what it answers
without the store), never 500. Against a store that is really not there (an engine pointed at
a closed port) and a connection really lost (its backend terminated), not a mock."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from api.errors import ApiError, store_errors
from infra.settings import Settings
from store.db import Sessionmaker, make_engine, make_sessionmaker
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS, as_role, http_client
from tests.database import POSTGRES

CLOSED_PORT = 9001  # in this suite's range, and nothing listens on it (checked below)
PATH_VALUES = {"case_id": "CSPR-2026-0404", "difference_id": "D1", "document_id": "1",
               "organisation_id": "1", "person_id": "1", "day": "2030-01-02", "kind": "dhr"}
QUERIES = {"/v1/deadlines": {"from": "2026-01-05", "to": "2026-01-09"},
           "/v1/calendar/working-days": {"start": "2026-01-05", "days": "3"}}
NOTIFICATION = {"notifying_agency": "Humberside Police",
                "incident": {"date": "2026-11-02", "harm": "serious_harm",
                             "abuse_or_neglect": "suspected"},
                "children": [{"reference": "DOWN-1"}]}
# Endpoints that need the store for their answer: 503 while it is down.
NEED_THE_STORE = [
    ("GET", "/v1/cases"), ("GET", "/v1/cases/{case_id}"), ("GET", "/v1/cases/{case_id}/events"),
    ("GET", "/v1/deadlines"), ("GET", "/v1/calendar/working-days"),
    ("GET", "/v1/calendar/bank-holidays"), ("GET", "/v1/directory/organisations"),
    ("GET", "/v1/cases/{case_id}/documents"), ("GET", "/v1/cases/{case_id}/mail"),
    ("GET", "/v1/cases/{case_id}/documents/{document_id}"),
    ("GET", "/v1/cases/{case_id}/local-review"), ("GET", "/v1/cases/{case_id}/action-plan"),
    ("GET", "/v1/cases/{case_id}/differences-of-opinion"),
]


@pytest.fixture(scope="module")
async def store_down_api(
    dev_env: WorkflowEnvironment, dev_worker: Worker
) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", CLOSED_PORT)) != 0, "something listens there"
    url = re.sub(r"@[^/]+/", f"@127.0.0.1:{CLOSED_PORT}/", POSTGRES)
    engine = make_engine(url)
    settings = Settings(encryption_keys=TEST_KEYS, task_queue=dev_worker.task_queue,
                        jwt_secret=TEST_JWT_SECRET)
    app = create_app(settings, dev_env.client, make_sessionmaker(engine))
    async with app.router.lifespan_context(app), http_client(app) as http:
        yield app, http
    await engine.dispose()


def _operations(app: FastAPI) -> list[tuple[str, str, bool]]:
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            found.append((method.upper(), path, "requestBody" in operation))
    return found


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


async def test_no_endpoint_answers_500_while_the_store_is_down(
    store_down_api: tuple[FastAPI, AsyncClient],
) -> None:
    app, http = store_down_api
    answers: dict[tuple[str, str], set[int]] = {}
    for method, path, has_body in _operations(app):
        for role in (as_role("mars_team"), as_role("admin")):
            response = await http.request(
                method, _url(path), params=QUERIES.get(path),
                json={} if has_body else None,
                headers={**role, "Idempotency-Key": f"down-{method}-{path}"})
            assert response.status_code != 500, (method, path, response.text)
            if response.status_code == 503:
                assert int(response.headers["retry-after"]) > 0, (method, path)
                assert response.headers["content-type"] == "application/problem+json"
            answers.setdefault((method, path), set()).add(response.status_code)
    for operation in NEED_THE_STORE:
        assert 503 in answers[operation], (operation, answers[operation])


async def test_a_valid_post_with_a_key_is_503_while_the_store_is_down(
    store_down_api: tuple[FastAPI, AsyncClient],
) -> None:
    _, http = store_down_api
    for key in ({"Idempotency-Key": "down-notification"}, {}):
        response = await http.post("/v1/notifications", json=NOTIFICATION,
                                   headers={**as_role("mars_team"), **key})
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"]


async def test_a_lost_connection_is_503_not_500(sessions: Sessionmaker) -> None:
    """asyncpg's error for a connection the server dropped arrives as a plain DBAPIError."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("a PostgreSQL backend to terminate")
    admin = make_engine(POSTGRES)
    try:
        async with sessions() as session:
            pid = await session.scalar(text("select pg_backend_pid()"))
            async with admin.begin() as conn:
                await conn.execute(text("select pg_terminate_backend(:p)"), {"p": pid})
            raised: Any = None
            try:
                async with store_errors():
                    await session.execute(text("select 1"))
            except ApiError as e:
                raised = e
    finally:
        await admin.dispose()
    assert raised is not None
    assert raised.problem.status == 503
    assert raised.headers == {"Retry-After": "5"}

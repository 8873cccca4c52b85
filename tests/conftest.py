"""Session-scoped Temporal environments: the time-skipping server and a real dev server; the
API on the dev server, and bearer tokens for each role."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import date

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from api.auth import issue_token
from domain.calendar import WorkingDayCalendar
from domain.permissions import Role
from infra.binaries import temporal_cli, temporal_test_server
from infra.codec import EncryptionCodec
from infra.mailer import SmtpMailer
from infra.settings import Settings
from infra.temporal import data_converter
from store import calendar as calendar_store
from store.db import Sessionmaker, make_sessionmaker
from tests.database import drop, test_database
from tests.smtp import Recorder, shared_server, smtp_server
from worker import WORKFLOWS, build_worker
from workflows import search_attributes as sa

# A fixed key for tests only: the committed replay histories were recorded with it.
TEST_KEYS = "test-key-1:" + base64.b64encode(bytes(range(32))).decode()
CODEC = EncryptionCodec.from_setting(TEST_KEYS)
CONVERTER = data_converter(CODEC)
# The tests' own token secret (HS256); the audience and issuer are the settings' defaults.
TEST_JWT_SECRET = "test-jwt-secret-" + "0123456789abcdef" * 2


def token(role: str, org: str | None = None) -> str:
    return issue_token(TEST_JWT_SECRET, role=Role(role), organisation=org,
                       subject=f"{role}-tester@cspr.test")


def as_role(role: str, org: str | None = None) -> dict[str, str]:
    """Request headers carrying a token of this role (and organisation)."""
    return {"Authorization": f"Bearer {token(role, org)}"}


async def register_search_attributes(client: Client) -> None:
    """Register first: an unknown search attribute makes a workflow task retry forever."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
                for key in sa.ALL
            },
        )
    )


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, SmtpMailer]]:
    """An SMTP server of the test's own (tests.smtp) and a mailer that sends to it."""
    with smtp_server() as server:
        yield server


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own: its clock is not shared with other tests, and
    a case left waiting on a timer cannot stall another test's skip (it does on a shared one)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=CONVERTER
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=CONVERTER,
        search_attributes=sa.ALL,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def sessions(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sessionmaker]:
    """The case store on a fresh, migrated PostgreSQL schema of this run's own."""
    engine, schema, url = await test_database(tmp_path_factory.mktemp("db"))
    yield make_sessionmaker(engine)
    await drop(engine, schema, url)


def new_worker(
    client: Client, sessions: Sessionmaker, calendar: WorkingDayCalendar | None = None,
    workflows: Sequence[type] = WORKFLOWS,
) -> Worker:
    """A worker on a task queue of its own, so tests never take each other's tasks; what it
    e-mails goes to the run's in-process SMTP server (tests.smtp.shared_server)."""
    return build_worker(client, f"tq-{uuid.uuid4()}", calendar or WorkingDayCalendar(), sessions,
                        workflows, mailer=shared_server()[1])


@pytest.fixture(scope="session")
async def dev_worker(
    dev_env: WorkflowEnvironment, sessions: Sessionmaker
) -> AsyncIterator[Worker]:
    async with new_worker(dev_env.client, sessions) as worker:
        yield worker


@pytest.fixture(scope="session")
async def api_app(
    dev_env: WorkflowEnvironment, dev_worker: Worker, sessions: Sessionmaker
) -> AsyncIterator[FastAPI]:
    """The real API on the real dev server and case store, with a worker running the real
    workflows."""
    settings = Settings(encryption_keys=TEST_KEYS, task_queue=dev_worker.task_queue,
                        jwt_secret=TEST_JWT_SECRET)
    app = create_app(settings, dev_env.client, sessions)
    async with app.router.lifespan_context(app):
        yield app


def http_client(app: FastAPI, headers: dict[str, str] | None = None) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://cspr.test",
                       headers=headers)


@pytest.fixture(scope="session")
async def api(api_app: FastAPI) -> AsyncIterator[AsyncClient]:
    """A client of the API sending the MARS team's token; pass `headers=as_role(...)` for
    another role."""
    async with http_client(api_app, as_role("mars_team")) as http:
        yield http


@pytest.fixture(scope="session")
async def anonymous(api_app: FastAPI) -> AsyncIterator[AsyncClient]:
    """A client of the API sending no token."""
    async with http_client(api_app) as http:
        yield http


@pytest.fixture
async def added(sessions: Sessionmaker) -> AsyncIterator[list[date]]:
    """Bank holidays a test adds to the run's calendar (tests.bank_holidays.add_day), withdrawn
    after it so that no other test counts on them."""
    days: list[date] = []
    yield days
    async with sessions.begin() as session:
        for day in days:
            await calendar_store.withdraw(session, day)


def without_patch(monkeypatch: pytest.MonkeyPatch, patch_id: str) -> None:
    """Run the workflows as code from before `patch_id`: `workflow.patched` answers False for
    it (every other patch as usual), so a history recorded under it must fail to replay."""
    from temporalio import workflow

    patched = workflow.patched
    monkeypatch.setattr(workflow, "patched", lambda asked: asked != patch_id and patched(asked))

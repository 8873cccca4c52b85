"""Metrics: the API's by route template and status, Idempotency-Key conflicts, the gauges
counted over the case store, and the worker's Temporal SDK metrics on their own endpoint."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from prometheus_client import generate_latest
from sqlalchemy import delete
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.case_store import CaseStoreActivities, PartProjectionInput, ProjectionCounts
from api.app import create_app
from api.telemetry import ApiMetrics
from domain.calendar import WorkingDayCalendar
from infra.metrics import StoreMetrics
from infra.settings import Settings
from infra.temporal import worker_runtime
from store.db import Sessionmaker, make_engine, make_sessionmaker
from store.models import AuditEvent, Case, CaseStep, OutboxMessage
from tests.conftest import CONVERTER, TEST_JWT_SECRET, TEST_KEYS
from tests.smtp import free_port
from tests.test_api import body
from worker import build_worker, serve_store_metrics


def sample(metrics: ApiMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def fetch(url: str) -> str:
    def get() -> str:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bytes(response.read()).decode()
    return await asyncio.to_thread(get)


async def test_requests_are_counted_by_route_template_and_status(
    api_app: FastAPI, api: AsyncClient,
) -> None:
    metrics: ApiMetrics = api_app.state.metrics
    route = "/v1/cases/{case_id}"
    before = sample(metrics, "cspr_api_requests_total", method="GET", route=route, status="404")
    timed = sample(metrics, "cspr_api_request_duration_seconds_count", method="GET", route=route)
    for n in range(3):
        assert (await api.get(f"/v1/cases/CSPR-1999-{n:04d}")).status_code == 404
    assert sample(metrics, "cspr_api_requests_total", method="GET", route=route,
                  status="404") == before + 3
    assert sample(metrics, "cspr_api_request_duration_seconds_count", method="GET",
                  route=route) == timed + 3
    exposed = generate_latest(metrics.registry).decode()
    assert "CSPR-1999-" not in exposed  # a route's template, never a case id


async def test_an_idempotency_key_reused_for_another_request_is_counted(
    api_app: FastAPI, api: AsyncClient,
) -> None:
    metrics: ApiMetrics = api_app.state.metrics
    before = sample(metrics, "cspr_api_idempotency_conflicts_total", reason="reused")
    key = {"Idempotency-Key": f"metrics-{uuid.uuid4()}"}
    first = await api.post("/v1/notifications", json=body(), headers=key)
    assert first.status_code == 201, first.text
    again = await api.post("/v1/notifications", json=body(), headers=key)
    assert again.status_code == 201  # the same request: the kept answer, not a conflict
    assert sample(metrics, "cspr_api_idempotency_conflicts_total", reason="reused") == before
    other = await api.post("/v1/notifications", json=body(notifying_agency="Police"),
                           headers=key)
    assert other.status_code == 422, other.text
    assert sample(metrics, "cspr_api_idempotency_conflicts_total", reason="reused") == before + 1


async def test_the_api_serves_its_metrics_on_a_port_of_their_own(
    dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    port = free_port()
    settings = Settings(encryption_keys=TEST_KEYS, jwt_secret=TEST_JWT_SECRET,
                        api_metrics_port=port)
    app = create_app(settings, dev_env.client, sessions)
    async with app.router.lifespan_context(app):
        exposed = await fetch(f"http://127.0.0.1:{port}/metrics")
        assert "# TYPE cspr_api_requests_total counter" in exposed
        assert "cspr_api_request_duration_seconds" in exposed


async def test_the_store_gauges_count_cases_overdue_steps_and_the_outbox(
    sessions: Sessionmaker,
) -> None:
    metrics = StoreMetrics(sessions)
    await metrics.refresh()

    def value(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0

    statutory, local = value("cspr_steps_overdue", duty="statutory"), value(
        "cspr_steps_overdue", duty="local")
    failed = value("cspr_emails", purpose="reminder", status="failed")
    overdue_events = value("cspr_case_events", kind="overdue")
    now = datetime.now(UTC)
    cid = f"CSPR-2026-{uuid.uuid4().hex[:8].upper()}"
    async with sessions.begin() as session:
        session.add(Case(case_id=cid, kind="serious_incident", procedure_version="test",
                         stage="rapid_review", overdue=True, received_at=now, version=1,
                         snapshot={}, updated_at=now, possible_duplicate_of=[]))
        await session.flush()
        session.add_all([
            CaseStep(case_id=cid, step="panel_notification", statutory=True, status="overdue"),
            CaseStep(case_id=cid, step="agency_reports", statutory=False, status="overdue"),
            CaseStep(case_id=cid, step="rapid_review_meeting", statutory=False,
                     status="pending"),
            AuditEvent(case_id=cid, sequence=1, at=now, kind="overdue", detail="",
                       channel="timer"),
            *[OutboxMessage(key=f"{cid}/{n}", case_id=cid, purpose="reminder", to_address="x@y.z",
                            subject="", body="", message_id=f"<{cid}-{n}@test>", status=status,
                            attempts=0, created_at=now - timedelta(hours=hours))
              for n, (status, hours) in enumerate((("failed", 1), ("pending", 3)))],
        ])
    try:
        await metrics.refresh()
        assert value("cspr_store_up") == 1
        assert value("cspr_cases", kind="serious_incident", stage="rapid_review") >= 1
        assert value("cspr_steps_overdue", duty="statutory") == statutory + 1
        assert value("cspr_steps_overdue", duty="local") == local + 1
        assert value("cspr_emails", purpose="reminder", status="failed") == failed + 1
        assert value("cspr_case_events", kind="overdue") == overdue_events + 1
        assert value("cspr_outbox_oldest_pending_age_seconds") >= 3 * 3600
        exposed = generate_latest(metrics.registry).decode()
        assert cid not in exposed
    finally:
        async with sessions.begin() as session:
            for model in (OutboxMessage, AuditEvent, CaseStep, Case):
                await session.execute(delete(model).where(model.case_id == cid))


async def test_a_store_that_cannot_be_counted_shows_as_down(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/none.db")
    metrics = StoreMetrics(make_sessionmaker(engine))
    await metrics.refresh()
    assert metrics.registry.get_sample_value("cspr_store_up") == 0
    await engine.dispose()


async def test_the_worker_serves_the_sdk_metrics_with_its_pollers(
    dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    port = free_port()
    settings = Settings(encryption_keys=TEST_KEYS, worker_sdk_metrics_port=port)
    client = await Client.connect(dev_env.client.service_client.config.target_host,
                                  data_converter=CONVERTER, runtime=worker_runtime(settings))
    task_queue = f"tq-{uuid.uuid4()}"
    async with build_worker(client, task_queue, WorkingDayCalendar(), sessions):
        for _ in range(50):
            exposed = await fetch(f"http://127.0.0.1:{port}/metrics")
            if f'poller_type="workflow_task",service_name="temporal-core-sdk",' \
               f'task_queue="{task_queue}"' in exposed:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("no workflow task poller in the SDK's metrics")
    assert "temporal_num_pollers" in exposed


async def test_projection_failures_are_counted_by_part_and_reason_on_the_workers_endpoint(
    sessions: Sessionmaker, tmp_path: Path,
) -> None:
    """The store activities' own counts (refused: a value PostgreSQL will not take; unavailable:
    no store) reach `cspr_projection_failures_total` on CSPR_WORKER_METRICS_PORT."""
    counts = ProjectionCounts()
    port = free_port()
    settings = Settings(encryption_keys=TEST_KEYS, worker_metrics_port=port)
    counting = serve_store_metrics(settings, sessions, counts)
    assert counting is not None
    down = make_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/none.db")
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        before = await fetch(url)
        assert 'cspr_projection_failures_total{part="case",reason="refused"} 0.0' in before

        def part(case_id: str, name: str) -> PartProjectionInput:
            return PartProjectionInput(case_id=case_id, part=name, version=1, stage="open",
                                       overdue=False, next_deadline=None, snapshot={}, events=[])

        # 40 characters: the case number column takes 32 (SQLSTATE 22001, refused).
        refused_id = f"CSPR-2026-{uuid.uuid4().hex[:30].upper()}"
        store = CaseStoreActivities(sessions, counts)
        for name in ("action_plan", "action_plan", "local_review"):
            with pytest.raises(ApplicationError) as refused:
                await ActivityEnvironment().run(store.project_part, part(refused_id, name))
            assert refused.value.type == "ProjectionRefused"
        unavailable = CaseStoreActivities(make_sessionmaker(down), counts)
        with pytest.raises(ApplicationError) as failed:
            await ActivityEnvironment().run(unavailable.project_part,
                                            part("CSPR-2026-0001", "local_review"))
        assert failed.value.type == "StoreUnavailable"

        after = await fetch(url)
        assert 'cspr_projection_failures_total{part="action_plan",reason="refused"} 2.0' in after
        assert 'cspr_projection_failures_total{part="local_review",reason="refused"} 1.0' in after
        assert ('cspr_projection_failures_total{part="local_review",reason="unavailable"} 1.0'
                in after)
        assert 'cspr_projection_failures_total{part="case",reason="refused"} 0.0' in after
        assert refused_id not in after
        assert (counts.refused, counts.failed) == (3, 1)
    finally:
        counting.cancel()
        await down.dispose()

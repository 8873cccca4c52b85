"""Traces: one trace follows a partner's decision from the API's request, through the Temporal
Update, into the workflow's handling of it and the activities that write the case store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.calendar import WorkingDayCalendar
from infra import tracing
from infra.settings import Settings
from store.db import Sessionmaker, make_engine, make_sessionmaker
from tests.conftest import CONVERTER, TEST_JWT_SECRET, TEST_KEYS, as_role, http_client
from tests.smtp import shared_server
from tests.test_api import body
from worker import build_worker


def in_trace(spans: Sequence[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def test_traces_are_off_unless_an_endpoint_is_set() -> None:
    settings = Settings(encryption_keys=TEST_KEYS)
    assert tracing.provider_from(settings, "cspr-test") is None
    assert tracing.temporal_interceptors(None) == []
    on = Settings(encryption_keys=TEST_KEYS, otlp_endpoint="http://127.0.0.1:9/v1/traces")
    provider = tracing.provider_from(on, "cspr-test")
    assert provider is not None
    provider.shutdown()


async def test_one_trace_from_the_request_through_the_update_to_the_activities(
    dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # The run's database, on an engine of the test's own (instrumented only here).
    shared = sessions.kw["bind"]
    schema = None
    if shared.url.get_backend_name() == "postgresql":
        async with shared.connect() as conn:
            schema = await conn.scalar(text("select current_schema()"))
    engine = make_engine(shared.url.render_as_string(hide_password=False), schema=schema)
    tracing.instrument_engine(engine, provider)
    traced = make_sessionmaker(engine)
    client = await Client.connect(dev_env.client.service_client.config.target_host,
                                  data_converter=CONVERTER,
                                  interceptors=tracing.temporal_interceptors(provider))
    task_queue = f"tq-{uuid.uuid4()}"
    settings = Settings(encryption_keys=TEST_KEYS, task_queue=task_queue,
                        jwt_secret=TEST_JWT_SECRET)
    try:
        async with build_worker(client, task_queue, WorkingDayCalendar(), traced,
                                mailer=shared_server()[1]):
            app = create_app(settings, client, traced, tracer_provider=provider)
            async with app.router.lifespan_context(app), \
                    http_client(app, as_role("mars_team")) as api:
                created = await api.post("/v1/notifications", json=body())
                assert created.status_code == 201, created.text
                case_id = created.json()["case_id"]
                recorded = await api.post(f"/v1/cases/{case_id}/inform-partners", json={})
                assert recorded.status_code == 200, recorded.text
            request = next(s for s in exporter.get_finished_spans()
                           if s.name == "POST /v1/cases/{case_id}/inform-partners"
                           and s.parent is None)
            # The worker's spans end after the answer: wait for the update's activities.
            for _ in range(100):
                if _handled(exporter.get_finished_spans()) is not None:
                    break
                await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
        SQLAlchemyInstrumentor().uninstrument()
    spans = exporter.get_finished_spans()
    assert request.context is not None
    request_trace = in_trace(spans, request.context.trace_id)
    names = {s.name for s in request_trace}
    # The API's request: its queries of the store, and the Update sent to the workflow.
    assert "StartWorkflowUpdate:record" in names, names
    assert any(s.attributes and s.attributes.get("db.system") for s in request_trace), names
    update = next(s for s in request_trace if s.name == "StartWorkflowUpdate:record")
    # In the worker, the workflow validates and handles that Update. The SDK's interceptor
    # puts a workflow's spans in the trace of the request that started it (the notification)
    # and links each Update's handling to the request that sent it.
    handled = _handled(spans)
    assert handled is not None, sorted(s.name for s in spans)
    assert update.context is not None
    assert [(link.context.trace_id, link.context.span_id) for link in handled.links] == [
        (update.context.trace_id, update.context.span_id)]
    assert handled.context is not None
    case_trace = in_trace(spans, handled.context.trace_id)
    started = next(s for s in spans if s.name == "POST /v1/notifications")
    assert started.context is not None
    assert started.context.trace_id == handled.context.trace_id
    # ... and the activities it runs (the projection, the audit trail) write the store there.
    runs = [s for s in case_trace if s.name.startswith("RunActivity:project_case")
            and s.start_time is not None and handled.start_time is not None
            and s.start_time > handled.start_time]
    assert runs, sorted(s.name for s in case_trace)
    run_ids = {s.context.span_id for s in runs if s.context}
    assert any(s.parent is not None and s.parent.span_id in run_ids
               and s.attributes and s.attributes.get("db.system") for s in case_trace)


def _handled(spans: Sequence[ReadableSpan]) -> ReadableSpan | None:
    """The workflow's handling of the `record` Update, once an activity ran after it."""
    handled = next((s for s in spans if s.name == "HandleUpdate:record"), None)
    if handled is None or handled.start_time is None:
        return None
    after = [s for s in spans if s.name.startswith("RunActivity:project_case")
             and s.start_time is not None and s.start_time > handled.start_time]
    return handled if after else None

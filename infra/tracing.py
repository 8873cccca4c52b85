"""Traces (OpenTelemetry): off unless CSPR_OTLP_ENDPOINT names a collector.

One trace follows a request: the API's span (FastAPI), the store's queries (SQLAlchemy), the
Temporal client's Update or start, and in the worker the workflow's handling of it and its
activities (the SDK's TracingInterceptor carries the context in Temporal's headers). Spans hold
route templates, workflow and activity names and SQL with its placeholders: never a payload
(encrypted anyway) or a query's values.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from infra.settings import Settings


def provider_from(settings: Settings, service: str) -> TracerProvider | None:
    """A tracer provider exporting over OTLP/HTTP to CSPR_OTLP_ENDPOINT, or None if unset."""
    return provider_for(settings.otlp_endpoint, service)


def provider_for(endpoint: str, service: str) -> TracerProvider | None:
    if not endpoint:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def temporal_interceptors(provider: TracerProvider | None) -> list[Interceptor]:
    """The client's interceptors; a worker built on the client takes them too."""
    if provider is None:
        return []
    return [TracingInterceptor(provider.get_tracer("cspr.temporal"))]


def instrument_app(app: FastAPI, provider: TracerProvider | None) -> None:
    if provider is not None:
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider,
                                           excluded_urls="healthz,readyz")


def instrument_engine(engine: AsyncEngine, provider: TracerProvider | None) -> None:
    """The case store's queries as spans: one engine a process (the instrumentor is one per
    process). Its declared range stops before SQLAlchemy 2.1, which it traces as well (the
    event API it uses is unchanged; tests/test_traces.py checks the spans)."""
    if provider is not None:
        instrumentor = SQLAlchemyInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        instrumentor.instrument(engine=engine.sync_engine, tracer_provider=provider,
                                skip_dep_check=True)

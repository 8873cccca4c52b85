"""The FastAPI application: `create_app()` and its lifespan."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import errors
from api.auth import TokenVerifier
from api.routes import (
    calendar,
    cases,
    directory,
    health,
    local_review,
    notifications,
    parallel_reviews,
    reports,
    review_requests,
)
from api.routes.action_plan import router as action_plan_router
from api.routes.amendment import router as amendment_router
from api.routes.case_file import router as case_file_router
from api.routes.codec import UiCors
from api.routes.codec import router as codec_router
from api.routes.data_protection import router as data_protection_router
from api.routes.differences import router as differences_router
from api.routes.documents import router as documents_router
from api.routes.families import router as families_router
from api.routes.letters import router as letters_router
from api.routes.reviewers import router as reviewers_router
from api.routes.withdrawal import router as withdrawal_router
from api.telemetry import ApiMetrics, Telemetry
from api.text_check import TextCheck
from infra import logs, tracing
from infra.settings import Settings
from infra.temporal import connect
from store.db import Sessionmaker, make_engine, make_sessionmaker
from web.mount import mount as mount_workspace


def create_app(
    settings: Settings | None = None, client: Client | None = None,
    sessions: Sessionmaker | None = None, tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """Build the app; tests pass their own settings, Temporal client, case store and tracer."""
    # Traces only if CSPR_OTLP_ENDPOINT is set (infra.tracing), or a test gives a provider.
    # Known now, to instrument the app; the rest of the settings are read at startup.
    endpoint = settings.otlp_endpoint if settings else os.environ.get("CSPR_OTLP_ENDPOINT", "")
    tracer = tracer_provider or tracing.provider_for(endpoint, "cspr-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings or Settings()
        if settings is None:
            # Started by uvicorn's factory call: the process's logs become JSON lines. Tests
            # pass their own settings and keep pytest's log capture.
            logs.configure(s.log_level)
        app.state.settings = s
        # The API's metrics on a port of their own (0: not served), never on the API's.
        served = (start_http_server(s.api_metrics_port, s.metrics_host, metrics.registry)
                  if s.api_metrics_port else None)
        # Refuses to start without a way to check bearer tokens.
        app.state.token_verifier = TokenVerifier.from_settings(s)
        # Lazy: the API starts and answers /readyz with 503 while Temporal is down.
        app.state.temporal = client or await connect(
            s, lazy=True, interceptors=tracing.temporal_interceptors(tracer))
        engine = make_engine(s.database_url) if sessions is None else None
        if engine is not None:
            tracing.instrument_engine(engine, tracer)
        app.state.sessions = sessions or make_sessionmaker(cast(AsyncEngine, engine))
        if settings is None:
            # A served process (not a test's app, started many times in one process): what
            # starting made (modules, models, clients) lives as long as it does, so out of the
            # collector's way; else each full collection walks it and stalls a request by
            # 100-200 ms (the workspace's p95; bench/workspace.py does the same).
            gc.collect()
            gc.freeze()
        yield
        if engine is not None:
            await engine.dispose()
        if served is not None:
            served[0].shutdown()
            served[0].server_close()
        if tracer is not None and tracer_provider is None:
            tracer.shutdown()  # sends the spans still held

    app = FastAPI(
        title="cspr",
        summary="Child Safeguarding Practice Reviews: the North Lincolnshire procedure",
        version="0.1.0",
        lifespan=lifespan,
        # Served offline by the workspace (web.mount), from installed packages.
        docs_url=None, redoc_url=None,
        responses={422: {"model": errors.Problem, "description": "Invalid content"}},
    )
    # Innermost of the middlewares: errors.install's catch-all answers for it too.
    app.add_middleware(TextCheck)
    errors.install(app)
    # The Temporal UI's codec server: CORS from the UI's origins (CSPR_UI_ORIGIN) only.
    app.add_middleware(UiCors)
    app.include_router(codec_router)
    for module in (health, notifications, review_requests, reports, cases, local_review,
                   calendar, directory):
        app.include_router(module.router)
    app.include_router(action_plan_router)
    app.include_router(differences_router)
    app.include_router(parallel_reviews.router)
    app.include_router(documents_router)
    app.include_router(letters_router)
    app.include_router(case_file_router)
    app.include_router(reviewers_router)
    app.include_router(data_protection_router)
    app.include_router(withdrawal_router)
    app.include_router(amendment_router)
    app.include_router(families_router)
    # The people's workspace: its pages, its assets and the API docs (issue 10).
    mount_workspace(app)
    # The outermost middleware: a request id, the access line and the metrics for every answer.
    metrics = ApiMetrics()
    app.state.metrics = metrics
    app.add_middleware(Telemetry, metrics=metrics)
    tracing.instrument_app(app, tracer)
    return app


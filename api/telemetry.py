"""What the API tells operations about each request: a request id, one JSON access line, and
Prometheus metrics by route template and status (never a case id or a person in a label)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra import logs

access_log = logging.getLogger("cspr.api.access")
REQUEST_ID_HEADER = "X-Request-ID"
# A caller's own request id is kept only if it cannot carry anything else.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# The problems api/idempotency.py answers for a key used twice (tests/test_telemetry.py keeps
# these in step with it).
IDEMPOTENCY_CONFLICTS = {"Idempotency-Key reused": "reused", "Request in progress": "in_progress"}
_MAX_SNIFF = 4096


class ApiMetrics:
    """The API's own metrics, in a registry of the app's own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "cspr_api_requests", "API requests answered, by route template and status",
            ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "cspr_api_request_duration_seconds", "Time to answer an API request",
            ["method", "route"], registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.idempotency_conflicts = Counter(
            "cspr_api_idempotency_conflicts",
            "Requests refused because their Idempotency-Key was reused for another request "
            "(reused) or is still being answered (in_progress)",
            ["reason"], registry=self.registry)


def request_id_of(headers: Headers) -> str:
    given = headers.get(REQUEST_ID_HEADER, "")
    return given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The matched route's template (/v1/cases/{case_id}), or "unmatched"."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


class Telemetry:
    """ASGI middleware, the outermost: every request, whatever answers it, is counted once."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = request_id_of(headers)
        keyed = "idempotency-key" in headers
        status = 500
        sniffed: list[bytes] = []
        sniffing = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, sniffing
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
                sniffing = keyed and status in (409, 422)
            elif message["type"] == "http.response.body" and sniffing:
                sniffed.append(bytes(message.get("body", b""))[:_MAX_SNIFF])
            await send(message)

        started = time.perf_counter()
        with logs.context(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                self._record(scope, status, elapsed, b"".join(sniffed) if sniffing else None)

    def _record(self, scope: Scope, status: int, elapsed: float, problem: bytes | None) -> None:
        route, method = route_of(scope), str(scope.get("method", ""))
        case_id = (scope.get("path_params") or {}).get("case_id")
        if isinstance(case_id, str) and logs.case_of(case_id) == case_id:
            logs.bind(case_id=case_id)
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(method, route).observe(elapsed)
        if problem is not None and (reason := _conflict(problem)) is not None:
            self.metrics.idempotency_conflicts.labels(reason).inc()
        access_log.info("request", extra={"method": method, "route": route, "status": status,
                                          "duration_ms": round(elapsed * 1000, 1)})


def _conflict(body: bytes) -> str | None:
    try:
        problem: Any = json.loads(body)
    except ValueError:
        return None
    title = problem.get("title") if isinstance(problem, dict) else None
    return IDEMPOTENCY_CONFLICTS.get(title) if isinstance(title, str) else None

"""One error envelope for every failure: RFC 9457 problem+json, naming field and reason.

Temporal's typed exceptions are mapped here, never by matching message strings. Nothing from
the request body (a child's data) is echoed back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.action_plan_records import PlanStep
from domain.local_review_records import LocalReviewStep
from domain.procedure import Step

logger = logging.getLogger("cspr.api")
PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = "5"


class FieldError(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] = []


class ApiError(Exception):
    """The base of every error the API raises on purpose."""

    def __init__(self, status: int, title: str, detail: str | None = None,
                 errors: list[FieldError] | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail or title)
        self.problem = Problem(title=title, status=status, detail=detail, errors=errors or [])
        self.headers = headers


def invalid(field: str, reason: str) -> ApiError:
    return ApiError(422, "Invalid request", f"{field}: {reason}",
                    [FieldError(field=field, reason=reason)])


def not_found(case_id: str) -> ApiError:
    return ApiError(404, "Case not found", f"no case {case_id}")


def unavailable(what: str) -> ApiError:
    return ApiError(503, "Service unavailable", f"{what} cannot be reached; try again",
                    headers={"Retry-After": RETRY_AFTER_SECONDS})


def not_answered() -> ApiError:
    return ApiError(503, "Service unavailable",
                    "the case did not answer in time; check it before trying again",
                    headers={"Retry-After": RETRY_AFTER_SECONDS})


def from_temporal(exc: Exception, case_id: str | None = None) -> ApiError | None:
    """Map a Temporal client error to the API's error, or None if it is not one we know."""
    if isinstance(exc, WorkflowAlreadyStartedError):
        return ApiError(409, "Case already exists", f"a case {exc.workflow_id} already exists")
    if isinstance(exc, WorkflowUpdateFailedError) and isinstance(exc.cause, ApplicationError):
        cause = exc.cause
        details: dict[str, Any] = cause.details[0] if cause.details else {}
        if cause.type == "StepNotOpen":
            return ApiError(409, "Step not open", cause.message,
                            [FieldError(field="step", reason=str(details.get("reason", "")))])
        if cause.type == "InvalidRecord":
            return invalid(str(details.get("field", "")), str(details.get("reason", "")))
        if cause.type == "DifferenceNotOpen":
            return ApiError(409, "Difference of opinion not open", cause.message,
                            [FieldError(field=str(details.get("field", "")),
                                        reason=str(details.get("reason", "")))])
        if cause.type == "DifferenceNotFound":
            return ApiError(404, "Difference of opinion not found", cause.message)
    if isinstance(exc, (WorkflowUpdateRPCTimeoutOrCancelledError, RPCTimeoutOrCancelledError)):
        return not_answered()
    if isinstance(exc, WorkflowQueryFailedError):
        return ApiError(503, "Case not readable", "the case could not be read; try again",
                        headers={"Retry-After": RETRY_AFTER_SECONDS})
    if isinstance(exc, RPCError):
        if exc.status is RPCStatusCode.NOT_FOUND and case_id is not None:
            return not_found(case_id)
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return unavailable("Temporal")
        if exc.status is RPCStatusCode.UNKNOWN:
            # The connection broke mid-call ("transport error": Temporal killed while it was
            # answering, found by the fault suite): whether it applied is not known, so the
            # partner tries again with its key and gets the first answer.
            logger.warning("Temporal call broken off: %s", exc.status.name)
            return unavailable("Temporal")
        if exc.status is RPCStatusCode.RESOURCE_EXHAUSTED:
            # A case takes one change at a time (workflows.serial) and Temporal holds at most
            # ten waiting: the eleventh is asked to come back, nothing of it applied.
            return ApiError(503, "Case busy", "the case has other changes in progress; "
                            "try again", headers={"Retry-After": RETRY_AFTER_SECONDS})
    return None


# What a pattern in a path or field means, said in words rather than as the regex (issue 9: "a
# malformed case id answers with a regex. Say what is expected").
PATTERN_WORDS: dict[str, str] = {
    r"^CSPR-\d{4}-[A-Z0-9]{4,12}$": "a case id: CSPR-, a four-digit year, a hyphen and 4 to 12 "
                                    "capital letters or digits (e.g. CSPR-2026-7KQ2MX)",
    r"^DOO-[1-9][0-9]{0,3}$": "a difference of opinion's id: DOO- and its number (e.g. DOO-1)",
}


def _message(e: Any) -> str:
    msg = str(e["msg"]).removeprefix("Value error, ")
    if e.get("type") == "string_pattern_mismatch":
        words = PATTERN_WORDS.get(str((e.get("ctx") or {}).get("pattern")))
        if words is not None:
            return f"expected {words}"
    return msg


def field_errors(errors: Sequence[Any], skip: tuple[str, ...] = ()) -> ApiError:
    """Pydantic's errors as a 422 naming each field; a model's own rule says "field: reason"."""
    found = []
    for e in errors:
        msg = _message(e)
        loc = ".".join(str(p) for p in e["loc"] if p not in skip)
        field, sep, reason = msg.partition(": ")
        found.append(FieldError(field=field, reason=reason) if sep and not loc
                     else FieldError(field=loc or "body", reason=msg))
    detail = "; ".join(f"{e.field}: {e.reason}" for e in found)
    return ApiError(422, "Invalid request", detail, found)


def from_validation(exc: ValidationError) -> ApiError:
    return field_errors(exc.errors())


def _routes(steps: type[StrEnum]) -> str:
    return ", ".join(s.value.replace("_", "-") for s in steps)


def unknown_path(path: str) -> Problem | None:
    """What a path under a case may be, when no route matched (issue 9: "an unknown step in a
    path answers a bare 'Not Found'")."""
    parts = path.strip("/").split("/")
    if parts[:2] != ["v1", "cases"] or len(parts) < 4:
        return None
    part = {"local-review": ("the LCSPR", LocalReviewStep),
            "action-plan": ("the action plan", PlanStep)}.get(parts[3])
    if part is not None and len(parts) > 4:
        name, steps = part
        return Problem(title="No such step", status=404,
                       detail=f"{parts[4]!r} is not a step of {name}: one of {_routes(steps)}",
                       errors=[FieldError(field="step", reason=f"not a step of {name}")])
    return Problem(
        title="No such step", status=404,
        detail=f"{parts[3]!r} is not a step or a part of a case. A case's steps: "
               f"{_routes(Step)}; its other parts: local-review, action-plan, "
               "differences-of-opinion, parallel-reviews, letters, documents, case-file, mail, "
               "events",
        errors=[FieldError(field="step", reason="not a step of the procedure")])


# A call Temporal has not answered by then (no worker, a stuck activity) gets a 503 rather than
# holding the partner system's connection open; an update sent may still be applied later.
TEMPORAL_TIMEOUT = 15.0
# A read that has the case store to fall back on waits less before it does.
READ_TIMEOUT = 5.0


@asynccontextmanager
async def temporal_errors(
    case_id: str | None = None, within: float | None = None
) -> AsyncIterator[None]:
    """Turn what the Temporal client raises into the API's errors. Wrap client calls only."""
    try:
        async with asyncio.timeout(within or TEMPORAL_TIMEOUT):
            yield
    except ApiError:
        raise
    except TimeoutError:
        raise not_answered() from None
    except RuntimeError:
        # The SDK's core raises RuntimeError when a (lazy) client cannot connect at all.
        raise unavailable("Temporal") from None
    except Exception as e:
        mapped = from_temporal(e, case_id)
        if mapped is None:
            raise
        raise mapped from None


# SQLSTATE classes of a server that is down, restarting, full or refusing for now (connection
# exception, operator intervention, insufficient resources) or a transaction to try again.
_TRANSIENT_SQLSTATES = ("08", "57P", "53", "40001", "40P01")


def store_unreachable(exc: BaseException) -> bool:
    """The case store cannot answer now (down, restarting, a connection lost, locked), as
    opposed to a fault of the request or of the code. asyncpg's errors arrive as a plain
    `DBAPIError` whose cause says which."""
    if isinstance(exc, (OperationalError, InterfaceError, OSError, PoolTimeout)):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    cause: BaseException | None = exc.orig
    while cause is not None:
        if isinstance(cause, OSError) or _asyncpg_interface_error(cause):
            return True
        if str(getattr(cause, "sqlstate", "") or "").startswith(_TRANSIENT_SQLSTATES):
            return True
        cause = cause.__cause__
    return False


def _asyncpg_interface_error(exc: BaseException) -> bool:
    """asyncpg's own InterfaceError ("connection is closed"), without importing asyncpg."""
    return any(c.__name__ == "InterfaceError" and c.__module__.startswith("asyncpg")
               for c in type(exc).__mro__)


@asynccontextmanager
async def store_errors() -> AsyncIterator[None]:
    """The case store unreachable is 503, like Temporal; nothing of the query is shown."""
    try:
        yield
    except Exception as e:
        if not store_unreachable(e):
            raise
        logger.warning("case store unreachable: %s", type(e).__name__)
        raise unavailable("The case store") from None


def _response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem.model_dump(exclude_none=True), status_code=problem.status,
                        media_type=PROBLEM_JSON, headers=headers)


def _document_problems(app: FastAPI) -> None:
    """Every error response in the OpenAPI document as what is sent: problem+json."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                for code, response in operation.get("responses", {}).items():
                    if code[:1] in ("4", "5"):
                        response["content"] = {PROBLEM_JSON: problem}
        schemas = document.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)  # FastAPI's 422 body, which we never send
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _document_problems(app)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _response(exc.problem, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        error = field_errors(exc.errors(), skip=("body", "query", "path"))
        return _response(error.problem)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(title=str(exc.detail), status=exc.status_code)
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a body it cannot decode (not UTF-8, say): a field error like
            # any other refused body, so a partner system has one kind of refusal to handle.
            problem = ApiError(422, "Invalid body", "the body could not be read as JSON",
                               [FieldError(field="body", reason="is not JSON in UTF-8")]).problem
        elif exc.status_code == 404 and exc.detail == "Not Found":
            problem = unknown_path(request.url.path) or problem
        return _response(problem, dict(exc.headers) if exc.headers else None)

    @app.middleware("http")
    async def _unexpected(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # A middleware, not an exception handler: Starlette re-raises after a handler for
        # Exception, and the server would then log the message, which may hold a child's data.
        try:
            return await call_next(request)
        except Exception as exc:
            mapped = from_temporal(exc)
            if mapped is None and store_unreachable(exc):
                # A store call some route made outside `store_errors`: 503 all the same.
                logger.warning("case store unreachable: %s", type(exc).__name__)
                mapped = unavailable("The case store")
            if mapped is not None:
                return _response(mapped.problem, mapped.headers)
            logger.error("unexpected error %s on %s %s", type(exc).__name__, request.method,
                         request.url.path)
            return _response(Problem(title="Internal error", status=500,
                                     detail="the request failed; it has been logged"))

"""Logs: one JSON object per line (structlog renders the standard library's records).

Every line carries what ties it to a request or a case, when known: `request_id`, `case_id`,
`workflow_id`, `run_id`, `actor_role`. Never a child's details, a person's name or address,
or the text of a record: code logs identifiers, counts and type names only (the API's access
line names the route's template, never the path or the query string).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger
from temporalio import activity, workflow

FIELDS = ("request_id", "case_id", "workflow_id", "run_id", "actor_role")
# A case's workflows are named after it: CSPR-2026-0001, CSPR-2026-0001-LCSPR, ...-ACTION-PLAN
# (api.schemas.CASE_ID_PATTERN).
_CASE_ID = re.compile(r"^(CSPR-\d{4}-[A-Z0-9]{4,12})(?:-|$)")

# The fields of what is being done now. A mutable dict, so that what a route binds (the case,
# the caller's role) is seen by the access line even across Starlette's middleware tasks.
_context: ContextVar[dict[str, str] | None] = ContextVar("cspr_log_context", default=None)


@contextmanager
def context(**fields: str) -> Iterator[dict[str, str]]:
    """Bind `fields` to every line logged inside the block (and in tasks it starts)."""
    token = _context.set(dict(fields))
    try:
        yield _context.get() or {}
    finally:
        _context.reset(token)


def bind(**fields: str | None) -> None:
    """Add fields to the current context (no-op outside one)."""
    current = _context.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v is not None})


def case_of(workflow_id: str) -> str | None:
    """The case a workflow belongs to, from its id."""
    found = _CASE_ID.match(workflow_id)
    return found.group(1) if found else None


def _add_context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key, value in (_context.get() or {}).items():
        event.setdefault(key, value)
    return event


def _temporal_fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """The workflow and run of a Temporal workflow's or activity's line, and its case."""
    info = event.pop("temporal_workflow", None) or event.pop("temporal_activity", None)
    event.pop("temporal_workflow", None)
    if isinstance(info, Mapping):
        # An activity's info names its workflow's run `workflow_run_id`.
        for key, name in (("workflow_id", "workflow_id"), ("run_id", "run_id"),
                          ("workflow_run_id", "run_id"), ("workflow_type", "workflow_type"),
                          ("activity_type", "activity_type"), ("attempt", "attempt")):
            if key in info:
                event.setdefault(name, info[key])
    workflow_id = event.get("workflow_id")
    if isinstance(workflow_id, str) and "case_id" not in event:
        if (case_id := case_of(workflow_id)) is not None:
            event["case_id"] = case_id
    return event


def _exception_type_only(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """A traceback's type and where it was raised, never its message: an exception's text can
    quote a child's details (a validation error quotes its input, an SQL error its values)."""
    exc_info = event.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        tb = exc_info[2]
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        event["exception"] = exc_info[0].__name__
        if tb is not None:
            event["exception_at"] = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
    event.pop("stack_info", None)
    return event


def _chain() -> list[Any]:
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _add_context,
        _temporal_fields,
        _exception_type_only,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    """A logging.Formatter writing each record as one JSON object."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_chain(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(sort_keys=False)],
    )


def configure(level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """JSON lines on stderr (or `stream`) for every logger of the process, uvicorn's and the
    Temporal SDK's included; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # The API writes its own access line (cspr.api.access): uvicorn's quotes the query string.
    logging.getLogger("uvicorn.access").disabled = True
    # The workflow's and activity's ids go in fields of their own, not appended to the message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    return handler


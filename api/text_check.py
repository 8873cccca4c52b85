"""Every request's text checked once, where it enters: a control character (domain/text.py) in
a JSON body or a query parameter is a 422 naming the field, before any route sees it."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PROBLEM_JSON, invalid
from domain.text import control_character, text_refusal

# The codec server's payloads are base64 and parsed by their own rules (api/routes/codec.py).
_NOT_CHECKED = ("/v1/codec/",)


class TextCheck:
    """Pure ASGI: the body is read, checked, and handed on unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(_NOT_CHECKED):
            await self.app(scope, receive, send)
            return
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        for name, value in parse_qsl(query, keep_blank_values=True):
            if (reason := text_refusal(value)) is not None:
                await _refuse(scope, receive, send, name if text_refusal(name) is None
                              else "query", reason)
                return
        headers = dict(scope.get("headers", []))
        if b"json" not in headers.get(b"content-type", b""):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(b"", receive, message), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            found = control_character(json.loads(body)) if body else None
        except RecursionError:
            found = ("body", "nested too deeply")
        except ValueError:  # not JSON: the route says so, naming the field
            found = None
        if found is not None:
            await _refuse(scope, receive, send, *found)
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive, first: Message | None = None) -> Receive:
    """A receive that gives the body read (or the message that came instead) once."""
    pending: list[Message] = [first] if first is not None else [
        {"type": "http.request", "body": body, "more_body": False}]

    async def again() -> Message:
        return pending.pop() if pending else await receive()

    return again


async def _refuse(scope: Scope, receive: Receive, send: Send, field: str, reason: str) -> None:
    problem = invalid(field, reason).problem
    response = JSONResponse(problem.model_dump(exclude_none=True), status_code=422,
                            media_type=PROBLEM_JSON)
    await response(scope, receive, send)

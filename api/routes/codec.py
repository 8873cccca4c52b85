"""The codec server: operations read encrypted payloads in the Temporal UI through the API.

Every payload sent to Temporal is encrypted (`infra.codec`). The Temporal UI (and the CLI, with
`--codec-endpoint`) sends them here to be decoded for display, by the remote codec protocol:
`POST /v1/codec/decode` and `POST /v1/codec/encode` take and answer the JSON form of
`temporal.api.common.v1.Payloads`, `{"payloads": [{"metadata": {...}, "data": "<base64>"}]}`.

Only the roles that read cases may use it. The UI has no login in development, so besides
`Authorization: Bearer` the same token is taken from an HttpOnly cookie set by
`POST /v1/codec/session` and sent for `/v1/codec` only. The browser may call these routes from
the UI's origins alone (`CSPR_UI_ORIGIN`, CORS); no other route answers a cross-origin call.
"""

from __future__ import annotations

import html
import json
import logging
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast
from urllib.parse import parse_qs

import jwt
from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload

from api.auth import (
    AUTH_RESPONSES,
    Principal,
    bearer,
    forbidden,
    principal_of,
    unauthenticated,
    who_may,
)
from api.deps import AppSettings
from api.errors import PROBLEM_JSON, ApiError, FieldError, Problem, invalid
from domain.permissions import READ_CASE_ROLES, Refusal, Role, can_read_case
from infra.codec import ENCODING
from infra.settings import Settings

logger = logging.getLogger("cspr.api.codec")

PREFIX = "/v1/codec"
COOKIE = "cspr_codec_token"
KEY_ID = "encryption-key-id"  # the metadata naming the key a payload was encrypted with
CORS_METHODS = ["POST", "GET", "DELETE", "OPTIONS"]
CORS_HEADERS = ["content-type", "x-namespace", "authorization"]
CORS_MAX_AGE_S = 600

router = APIRouter(prefix=PREFIX, tags=["codec"])

codec_cookie = APIKeyCookie(
    name=COOKIE, auto_error=False, scheme_name="CodecSession",
    description="The bearer token, kept by the browser after `POST /v1/codec/session`; sent "
                "to `/v1/codec` only.",
)

# Proto3 JSON leaves an empty repeated field out: `{}` is Payloads with none (what
# `temporal workflow query --codec-endpoint` sends for a query without arguments).
_PAYLOADS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Payloads; `payloads` may be left out when there are none (proto3 JSON "
                   "omits an empty list), as `{}`",
    "properties": {"payloads": {"type": "array", "items": {
        "type": "object",
        "properties": {
            "metadata": {"type": "object",
                         "additionalProperties": {"type": "string", "format": "byte"}},
            "data": {"type": "string", "format": "byte"},
        },
    }}},
    "example": {"payloads": [{"metadata": {"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="},
                              "data": "<base64>"}]},
}
_PAYLOADS_BODY: dict[str, Any] = {"requestBody": {
    "required": True, "content": {"application/json": {"schema": _PAYLOADS_SCHEMA}}}}
_PAYLOADS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The payloads, in the same order and shape",
          "content": {"application/json": {"schema": _PAYLOADS_SCHEMA}}},
    **AUTH_RESPONSES,
    413: {"model": Problem, "description": "Over 16 MiB, or more than 1000 payloads at once"},
    422: {"model": Problem, "description": "Not Payloads JSON, or a payload this service cannot "
                                           "decrypt"},
}
# The reviewer is bound to its own cases (issue 9, item 8); a payload does not say its case.
CODEC_ROLES = READ_CASE_ROLES - {Role.REVIEWER}
WHO = (f"{who_may(CODEC_ROLES)} The token comes in `Authorization: Bearer` or in the "
       f"codec session's cookie (`{COOKIE}`, see `/v1/codec/session`).")


def _may_read(principal: Principal) -> Principal:
    if not can_read_case(principal.role):
        raise forbidden(Refusal(f"the {principal.role} role cannot read case data"))
    # A payload does not say its case: a reviewer, bound to the cases it is assigned to (issue
    # 9, item 8), decodes none.
    if principal.role is Role.REVIEWER:
        raise forbidden(Refusal("the reviewer role reads only the cases it is assigned to, "
                                "through the API"))
    return principal


def codec_reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    cookie: Annotated[str | None, Depends(codec_cookie)],
) -> Principal:
    """The caller, from `Authorization: Bearer` or else the codec session's cookie; 401 without
    a valid token, 403 for a role that does not read cases. (Sync: FastAPI runs it in a thread,
    as checking a token may fetch a JWKS.)"""
    token = credentials.credentials if credentials is not None else cookie
    if not token:
        raise unauthenticated("a bearer token is required (Authorization: Bearer ..., or a "
                              f"codec session: GET {PREFIX}/session)")
    return _may_read(principal_of(request, token))


CodecReader = Annotated[Principal, Depends(codec_reader)]
Namespace = Annotated[str | None, Header(
    alias="X-Namespace", max_length=255, pattern=r"^[\x20-\x7e]*$",
    description="The namespace the UI shows; any is accepted")]


# What the UI and CLI send is a page of a history's payloads (each at most Temporal's 2 MB):
# more, or JSON nested deeper than a payload's, is not a codec request.
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_PAYLOADS = 1000
MAX_DEPTH = 8  # {"payloads": [{"metadata": {"k": "v"}}]} is 4


def _too_large(reason: str) -> ApiError:
    return ApiError(413, "Content too large", reason)


async def _body(request: Request) -> bytes:
    """The body, read no further than MAX_BODY_BYTES."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_large(f"the body is over {MAX_BODY_BYTES // 2**20} MiB")
    return bytes(body)


def _depth(document: object) -> int:
    """How deeply the JSON nests (without recursion: its depth is what is in doubt)."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack += [(v, depth + 1) for v in (value.values() if isinstance(value, dict)
                                                   else value)]
    return deepest


async def _payloads(request: Request) -> list[Payload]:
    """The body as Payloads; 422 naming what is wrong, never quoting it."""
    try:
        document = json.loads(await _body(request))
    except RecursionError:
        raise invalid("body", f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # not JSON, or not UTF-8
        raise invalid("body", "not JSON") from None
    if _depth(document) > MAX_DEPTH:
        raise invalid("body", f"nested deeper than {MAX_DEPTH} levels")
    # No "payloads" at all is an empty list (proto3 JSON omits one), as the CLI sends it.
    items = document.get("payloads", []) if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise invalid("payloads", 'must be a list, as in {"payloads": [{"metadata": {...}, '
                                  '"data": "<base64>"}]} (or left out when there are none)')
    if len(items) > MAX_PAYLOADS:
        raise _too_large(f"more than {MAX_PAYLOADS} payloads at once")
    payloads = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid(f"payloads[{i}]", 'not a payload: {"metadata": {...}, "data": ...}')
        try:
            payloads.append(json_format.ParseDict(item, Payload(), ignore_unknown_fields=True))
        except (json_format.ParseError, TypeError, ValueError):
            # The parser's message quotes the content: ours does not.
            raise invalid(f"payloads[{i}]", "not a payload: metadata values and data are "
                                             "base64 strings") from None
    return payloads


def _answer(payloads: list[Payload]) -> JSONResponse:
    # Payload by payload: an empty Payloads message would print as {} without its list.
    return JSONResponse({"payloads": [json_format.MessageToDict(p) for p in payloads]})


@router.post(
    "/decode", response_class=JSONResponse, responses=_PAYLOADS_RESPONSES,
    openapi_extra=_PAYLOADS_BODY,
    summary="Decode payloads (the Temporal UI's codec server)",
    description="Decrypts Temporal payloads for display: the remote codec protocol of the "
                "Temporal UI and CLI. Payloads that are not encrypted come back as they are."
                f"\n\n{WHO}",
)
async def decode(
    request: Request, settings: AppSettings, principal: CodecReader, namespace: Namespace = None,
) -> JSONResponse:
    payloads = await _payloads(request)
    codec, known = settings.codec, set(settings.codec.key_ids)
    decoded: list[Payload] = []
    for i, payload in enumerate(payloads):
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        if payload.metadata.get("encoding") == ENCODING and key_id not in known:
            raise _undecryptable(i, "it was encrypted with a key this service does not hold "
                                    f"(its {KEY_ID} is not in CSPR_ENCRYPTION_KEYS)", KEY_ID)
        try:
            decoded += await codec.decode([payload])
        except (InvalidTag, DecodeError, ValueError):
            raise _undecryptable(i, "it cannot be decrypted: altered, or not encrypted with "
                                    "the key its metadata names") from None
    # Who read how much: never what.
    logger.info("codec: %s (%s) decoded %d payloads (namespace %r)", principal.subject,
                principal.role, len(decoded), namespace)
    return _answer(decoded)


def _undecryptable(index: int, reason: str, metadata: str | None = None) -> ApiError:
    field = f"payloads[{index}]" + (f".metadata.{metadata}" if metadata else "")
    return ApiError(422, "Payload not decodable", f"{field}: {reason}",
                    [FieldError(field=field, reason=reason)])


@router.post(
    "/encode", response_class=JSONResponse, responses=_PAYLOADS_RESPONSES,
    openapi_extra=_PAYLOADS_BODY,
    summary="Encode payloads (the Temporal UI's codec server)",
    description="Encrypts payloads with the current key, as the worker and the API do: for a "
                f"signal or a workflow input typed in the Temporal UI or CLI.\n\n{WHO}",
)
async def encode(
    request: Request, settings: AppSettings, principal: CodecReader, namespace: Namespace = None,
) -> JSONResponse:
    payloads = await _payloads(request)
    encoded = await settings.codec.encode(payloads)
    logger.info("codec: %s (%s) encoded %d payloads (namespace %r)", principal.subject,
                principal.role, len(encoded), namespace)
    return _answer(encoded)


# --- The codec session: the token in a cookie, for a browser without a login -----------------

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # The form takes a token: never in a frame (clickjacking), posted only here, no scripts.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>cspr: codec session</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}
input{{width:100%;font-family:monospace}}</style></head>
<body>
<h1>Read payloads in the Temporal UI</h1>
{body}
</body>
</html>
"""

_FORM = """<p>Payloads in Temporal are encrypted. The Temporal UI decodes them through this API,
for the roles that read cases: {roles}.</p>
<p>Paste such a token (on a development machine: <code>.venv/bin/cspr token --role
mars_team</code>). This browser keeps it in an HttpOnly cookie sent to <code>{prefix}</code>
only, until the token expires.</p>
<form method="post">
<p><label for="token">Token</label><br>
<input id="token" name="token" type="password" autocomplete="off" required></p>
<p><button type="submit">Open a codec session</button></p>
</form>
<p>In the Temporal UI's codec server settings, <strong>Include cross-origin credentials</strong>
must be on for the browser to send the cookie (see the README).</p>"""


@router.get(
    "/session", response_class=HTMLResponse,
    summary="A page to open a codec session",
    description="A form to paste a bearer token into: it is posted to `POST /v1/codec/session`.",
)
async def session_page() -> HTMLResponse:
    roles = ", ".join(sorted(r.value for r in CODEC_ROLES))
    body = _FORM.format(roles=html.escape(roles), prefix=PREFIX)
    return HTMLResponse(_PAGE.format(body=body), headers=_PAGE_HEADERS)


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _seconds_left(token: str) -> int:
    """The verified token's remaining lifetime, from its `exp` (already checked)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return max(1, math.ceil(float(claims["exp"]) - time.time()))


async def _form_token(request: Request) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise invalid("token", "send the form field token (application/x-www-form-urlencoded)")
    try:
        fields = parse_qs((await request.body()).decode(), max_num_fields=10)
    except ValueError:
        raise invalid("token", "send the form field token") from None
    tokens = [t.strip() for t in fields.get("token", []) if t.strip()]
    if len(tokens) != 1:
        raise unauthenticated("paste one bearer token in the form field token")
    return tokens[0]


@router.post(
    "/session", response_class=HTMLResponse,
    responses={
        status: {"description": text, "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}
        for status, text in ((401, "No token, or one invalid or expired"),
                             (403, "The token's role does not read cases"),
                             (422, "No form field token"))
    },
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["token"],
            "properties": {"token": {"type": "string", "description": "A bearer token (JWT)"}},
        }}}}},
    summary="Open a codec session",
    description="Checks the form field `token` as any bearer token is checked and, for a role "
                f"that reads cases, keeps it in the HttpOnly cookie `{COOKIE}` (SameSite=Lax, "
                f"Path={PREFIX}, for the token's remaining lifetime). 401 for a token that is "
                f"not valid, 403 for a role that does not read cases.\n\n"
                f"{who_may(CODEC_ROLES)}",
)
async def open_session(request: Request, settings: AppSettings) -> HTMLResponse:
    token = await _form_token(request)
    # In a thread: checking a token may fetch the identity provider's keys.
    principal = _may_read(await run_in_threadpool(principal_of, request, token))
    seconds = _seconds_left(token)
    until = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M UTC")
    ui = html.escape(settings.ui_origins[0])
    body = (f"<p>Codec session open for the <code>{html.escape(principal.role.value)}</code> "
            f"role until {until}, when the token expires. Reload the Temporal UI: "
            f'<a href="{ui}">{ui}</a>.</p>'
            f"<p>To end it sooner, clear this site's cookies (or send "
            f"<code>DELETE {PREFIX}/session</code> from this browser).</p>")
    response = HTMLResponse(_PAGE.format(body=body), headers=_PAGE_HEADERS)
    response.set_cookie(COOKIE, token, max_age=seconds, path=PREFIX, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    logger.info("codec: session opened for %s (%s)", principal.subject, principal.role)
    return response


@router.delete(
    "/session", status_code=204, response_class=Response,
    summary="End the codec session",
    description=f"Clears the cookie `{COOKIE}`. Needs no token.",
)
async def close_session(request: Request) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")
    return response


# --- CORS: the UI's origins, for the codec routes only ----------------------------------------


class UiCors:
    """CORS for `/v1/codec` from the Temporal UI's origins (`CSPR_UI_ORIGIN`) only, with
    credentials (the codec session's cookie). Other routes answer no cross-origin call.

    Built on the first request, from the settings the lifespan put on the app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._cors: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")).removeprefix(str(scope.get("root_path", "")))
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        if self._cors is None:
            settings = cast(Settings, scope["app"].state.settings)
            self._cors = CORSMiddleware(
                self.app, allow_origins=list(settings.ui_origins), allow_credentials=True,
                allow_methods=CORS_METHODS, allow_headers=CORS_HEADERS, max_age=CORS_MAX_AGE_S,
            )
        await self._cors(scope, receive, send)

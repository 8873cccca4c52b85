"""`Idempotency-Key` on every POST: the same key and body give the same answer, once.

A partner system that did not hear back can send the request again with the same key: it gets
the first answer (success or refusal) and nothing is done twice. The key is the caller's own
(keys of different subjects never meet). Failures worth retrying (401, 403, 5xx) are not kept.

Across any crash: a request holds its key by a lease (`LEASE`), so a claim left by a crashed API
is taken over by the repeat once it runs out; the key is the Workflow Update's id
(`update_id()`), so Temporal itself gives a repeated record the first result even when the
first answer was lost (TEMPORAL-NOTES pitfall 11); and a key that opens a case is bound to the
case id before the workflow starts (api/opening.py), so every repeat finds that case.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.auth import Principal
from api.errors import PROBLEM_JSON, ApiError, FieldError, store_errors
from store import idempotency
from store.db import Sessionmaker

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x20-\x7e]+$",
    description="Any unique string: a repeat with the same key and body gets the same answer, "
                "and the request is carried out once")]

Result = TypeVar("Result", bound=BaseModel)
_NOT_KEPT = {401, 403, 429}
# Longer than any request takes (two Temporal calls of TEMPORAL_TIMEOUT and the store's): a live
# request keeps its key; a crashed one's is free a minute later.
LEASE = timedelta(seconds=60)
logger = logging.getLogger("cspr.api")
_update_id: ContextVar[str | None] = ContextVar("update_id", default=None)


def update_id() -> str | None:
    """The Workflow Update id of the request being answered: its key's, or None without one."""
    return _update_id.get()


def key_id(key: str, subject: str, request_hash: str) -> str:
    """A key's id in Temporal: the caller's key and subject and the request's hash, hashed (no
    one's name in clear; a key wrongly reused for another request never gets its answer)."""
    return "key-" + hashlib.sha256(f"{subject}\n{key}\n{request_hash}".encode()).hexdigest()[:40]


async def once(
    sessions: Sessionmaker, key: str | None, principal: Principal, method_path: str,
    body: Any, status_code: int, produce: Callable[[], Awaitable[Result]],
) -> Result | JSONResponse:
    """Run `produce` once per key; a repeat gets the kept answer as a JSONResponse."""
    if key is None:
        return await produce()
    digest = hashlib.sha256(json.dumps(
        {"request": method_path, "body": body}, sort_keys=True, default=str).encode()).hexdigest()
    now = datetime.now(UTC)
    async with store_errors(), sessions.begin() as session:
        held = await idempotency.claim(session, key, principal.key_owner, method_path, digest,
                                       now, LEASE)
    if held is not None:
        if held.request_hash != digest:
            raise ApiError(422, "Idempotency-Key reused",
                           "this Idempotency-Key was used for a different request",
                           [FieldError(field="Idempotency-Key",
                                       reason="was used for a different request")])
        if held.status_code == idempotency.IN_PROGRESS:
            left = (held.lease_until - now).total_seconds() if held.lease_until else 1
            raise ApiError(409, "Request in progress",
                           "a request with this Idempotency-Key is still being answered",
                           headers={"Retry-After": str(max(1, math.ceil(left)))})
        media = PROBLEM_JSON if held.status_code >= 400 else "application/json"
        return JSONResponse(held.response, status_code=held.status_code, media_type=media)
    token = _update_id.set(key_id(key, principal.key_owner, digest))
    try:
        result = await produce()
    except ApiError as e:
        status = e.problem.status
        if status >= 500 or status in _NOT_KEPT:
            await _release(sessions, key, principal.key_owner)
        else:
            async with store_errors(), sessions.begin() as session:
                await idempotency.complete(session, key, principal.key_owner, status,
                                           e.problem.model_dump(exclude_none=True))
        raise
    except BaseException:
        await _release(sessions, key, principal.key_owner)
        raise
    finally:
        _update_id.reset(token)
    async with store_errors(), sessions.begin() as session:
        await idempotency.complete(session, key, principal.key_owner, status_code,
                                   result.model_dump(mode="json"))
    return result


async def _release(sessions: Sessionmaker, key: str, subject: str) -> None:
    """Free the key for a repeat; if the store cannot be reached, its lease frees it later."""
    try:
        async with store_errors(), sessions.begin() as session:
            await idempotency.release(session, key, subject, datetime.now(UTC))
    except ApiError:
        logger.warning("an idempotency key was not released; its lease will free it")

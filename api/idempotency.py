"""`Idempotency-Key` on every POST: the same key and body give the same answer, once.

A partner system that did not hear back can send the request again with the same key: it gets
the first answer (success or refusal) and nothing is done twice. The key is the caller's own
(keys of different subjects never meet). Failures worth retrying (401, 403, 5xx) are not kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.auth import Principal
from api.errors import PROBLEM_JSON, ApiError, FieldError, store_errors
from store import idempotency
from store.db import Sessionmaker

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="Any unique string: a repeat with the same key and body gets the same answer, "
                "and the request is carried out once")]

Result = TypeVar("Result", bound=BaseModel)
_NOT_KEPT = {401, 403, 429}


async def once(
    sessions: Sessionmaker, key: str | None, principal: Principal, method_path: str,
    body: Any, status_code: int, produce: Callable[[], Awaitable[Result]],
) -> Result | JSONResponse:
    """Run `produce` once per key; a repeat gets the kept answer as a JSONResponse."""
    if key is None:
        return await produce()
    digest = hashlib.sha256(json.dumps(
        {"request": method_path, "body": body}, sort_keys=True, default=str).encode()).hexdigest()
    async with store_errors(), sessions.begin() as session:
        held = await idempotency.claim(session, key, principal.subject, method_path, digest)
    if held is not None:
        if held.request_hash != digest:
            raise ApiError(422, "Idempotency-Key reused",
                           "this Idempotency-Key was used for a different request",
                           [FieldError(field="Idempotency-Key",
                                       reason="was used for a different request")])
        if held.status_code == idempotency.IN_PROGRESS:
            raise ApiError(409, "Request in progress",
                           "a request with this Idempotency-Key is still being answered",
                           headers={"Retry-After": "1"})
        media = PROBLEM_JSON if held.status_code >= 400 else "application/json"
        return JSONResponse(held.response, status_code=held.status_code, media_type=media)
    try:
        result = await produce()
    except ApiError as e:
        status = e.problem.status
        async with store_errors(), sessions.begin() as session:
            if status >= 500 or status in _NOT_KEPT:
                await idempotency.release(session, key, principal.subject)
            else:
                await idempotency.complete(session, key, principal.subject, status,
                                           e.problem.model_dump(exclude_none=True))
        raise
    except BaseException:
        async with store_errors(), sessions.begin() as session:
            await idempotency.release(session, key, principal.subject)
        raise
    async with store_errors(), sessions.begin() as session:
        await idempotency.complete(session, key, principal.subject, status_code,
                                   result.model_dump(mode="json"))
    return result

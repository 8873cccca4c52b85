"""Idempotency keys: the first request with a key is answered and its answer kept; a repeat of
the same request gets the same answer, and nothing is done twice.

A request in progress holds its key by a lease that expires: a claim left behind by a crash
(of the API, or of the store between claim and answer) is taken over by the next repeat once
its lease has run out, never stuck "in progress" for ever. A key may carry the case id its
request opens, bound before the case's workflow starts, so that every repeat opens that case.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import IdempotencyRecord

IN_PROGRESS = 0  # status_code of a request still being answered


async def claim(
    session: AsyncSession, key: str, subject: str, method_path: str, request_hash: str,
    now: datetime, lease: timedelta,
) -> IdempotencyRecord | None:
    """Take the key for this request until `now + lease`; None if taken (afresh, or over from
    a claim of the same request whose lease ran out), else the record that holds it."""
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
              else sqlite.insert)
    inserted = await session.execute(
        insert(IdempotencyRecord).values(
            key=key, subject=subject, method_path=method_path, request_hash=request_hash,
            status_code=IN_PROGRESS, response={}, created_at=now, lease_until=now + lease,
        ).on_conflict_do_nothing(index_elements=["key", "subject"])
        .returning(IdempotencyRecord.key))
    if inserted.first() is not None:
        return None
    # A lease run out (or one from before leases: NULL) is taken over by the same request only;
    # the conditional update lets one of two racing repeats have it.
    taken = await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == key, IdempotencyRecord.subject == subject,
               IdempotencyRecord.status_code == IN_PROGRESS,
               IdempotencyRecord.request_hash == request_hash,
               (IdempotencyRecord.lease_until.is_(None))
               | (IdempotencyRecord.lease_until <= now))
        .values(lease_until=now + lease)
        .returning(IdempotencyRecord.key))
    if taken.first() is not None:
        return None
    return await session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.key == key, IdempotencyRecord.subject == subject))


async def complete(
    session: AsyncSession, key: str, subject: str, status_code: int, response: dict[str, Any]
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == key, IdempotencyRecord.subject == subject)
        .values(status_code=status_code, response=response, lease_until=None))


async def release(session: AsyncSession, key: str, subject: str, now: datetime) -> None:
    """Let a repeat have the key now (the request failed for a reason worth retrying: Temporal
    or the store unavailable). A key bound to a case keeps it: the repeat opens the same one;
    any other is forgotten, as if never sent."""
    await session.execute(delete(IdempotencyRecord).where(
        IdempotencyRecord.key == key, IdempotencyRecord.subject == subject,
        IdempotencyRecord.status_code == IN_PROGRESS, IdempotencyRecord.case_id.is_(None)))
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == key, IdempotencyRecord.subject == subject,
               IdempotencyRecord.status_code == IN_PROGRESS)
        .values(lease_until=now))


async def bind_case(
    session: AsyncSession, key: str, subject: str, case_id: str
) -> None:
    """Bind the case id this key's request opens (before its workflow starts)."""
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == key, IdempotencyRecord.subject == subject)
        .values(case_id=case_id))


async def bound_case(session: AsyncSession, key: str, subject: str) -> str | None:
    case_id: str | None = await session.scalar(
        select(IdempotencyRecord.case_id).where(
            IdempotencyRecord.key == key, IdempotencyRecord.subject == subject))
    return case_id

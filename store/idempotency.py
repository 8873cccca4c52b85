"""Idempotency keys: the first request with a key is answered and its answer kept; a repeat of
the same request gets the same answer, and nothing is done twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import IdempotencyRecord

IN_PROGRESS = 0  # status_code of a request still being answered


async def claim(
    session: AsyncSession, key: str, subject: str, method_path: str, request_hash: str
) -> IdempotencyRecord | None:
    """Take the key for this request; if it was already taken, the record that holds it."""
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
              else sqlite.insert)
    inserted = await session.execute(
        insert(IdempotencyRecord).values(
            key=key, subject=subject, method_path=method_path, request_hash=request_hash,
            status_code=IN_PROGRESS, response={}, created_at=datetime.now(UTC),
        ).on_conflict_do_nothing(index_elements=["key", "subject"])
        .returning(IdempotencyRecord.key))
    if inserted.first() is not None:
        return None
    return await session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.key == key, IdempotencyRecord.subject == subject))


async def complete(
    session: AsyncSession, key: str, subject: str, status_code: int, response: dict[str, Any]
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == key, IdempotencyRecord.subject == subject)
        .values(status_code=status_code, response=response))


async def release(session: AsyncSession, key: str, subject: str) -> None:
    """Forget a key whose request failed for a reason worth retrying (Temporal unavailable)."""
    await session.execute(delete(IdempotencyRecord).where(
        IdempotencyRecord.key == key, IdempotencyRecord.subject == subject))

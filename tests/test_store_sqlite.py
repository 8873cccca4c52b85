"""The embedded SQLite store (make run's) under concurrent writers (issue 13: projections and
letters failed by the hundred, "database is locked"): a process's write transactions take
turns (store.db) instead of polling SQLite's lock past its `busy_timeout` (5 s). On a real
SQLite file, migrated as make run's is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from store import owed
from store.db import Sessionmaker, make_engine, make_sessionmaker
from store.models import ProjectionOwed
from tests.database import upgrade

WRITERS = 12
HOLD = 0.5  # seconds each writer holds its transaction: 12 of them are longer than 5 s


@pytest.fixture
async def sqlite_sessions(tmp_path: Path) -> AsyncIterator[Sessionmaker]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'cspr.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(upgrade)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_concurrent_writers_each_wait_their_turn_none_is_locked_out(
    sqlite_sessions: Sessionmaker,
) -> None:
    async def write(n: int) -> None:
        async with sqlite_sessions.begin() as session:
            await owed.note(session, {(f"CSPR-2026-{n:04d}", owed.CASE): n},
                            datetime.now(UTC))
            await asyncio.sleep(HOLD)  # the lock held, as a slow projection holds it

    began = time.monotonic()
    results = await asyncio.gather(*(write(n) for n in range(WRITERS)), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert time.monotonic() - began >= WRITERS * HOLD  # one after another
    async with sqlite_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ProjectionOwed)) == WRITERS


async def test_a_transaction_begun_inside_one_holding_the_turn_does_not_wait_for_it(
    sqlite_sessions: Sessionmaker,
) -> None:
    began = time.monotonic()
    async with sqlite_sessions.begin() as outer:
        await outer.execute(text("select 1"))
        async with sqlite_sessions.begin() as inner:
            await owed.note(inner, {("CSPR-2026-0001", owed.CASE): 1}, datetime.now(UTC))
    assert time.monotonic() - began < 2.0

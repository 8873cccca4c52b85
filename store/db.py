"""Engines and sessions. One place commits: `async with sessionmaker.begin()`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

Sessionmaker = async_sessionmaker[AsyncSession]


def make_engine(url: str, schema: str | None = None, **kwargs: Any) -> AsyncEngine:
    """An engine for PostgreSQL (asyncpg) or SQLite (aiosqlite); `schema` for test isolation."""
    # An error's text never quotes its SQL parameters (a case snapshot, a letter's bytes): it
    # reaches logs and, encoded, Temporal's activity failures.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def make_sessionmaker(engine: AsyncEngine) -> Sessionmaker:
    if engine.dialect.name == "sqlite":
        return _OneWriterAtATime(engine, expire_on_commit=False)
    return async_sessionmaker(engine, expire_on_commit=False)


# How long a write transaction waits for its turn before it goes ahead anyway (SQLite's own
# lock, `busy_timeout`, then decides).
WRITE_TURN_WAIT = 10.0
_holding: ContextVar[bool] = ContextVar("holding_the_write_turn", default=False)


class _OneWriterAtATime(async_sessionmaker[AsyncSession]):
    """SQLite (make run's store) takes one writer at a time. This process's write transactions
    (`begin()`) queue for their turn here, woken in order the moment the last one commits,
    instead of polling SQLite's lock: under load (the API and the worker's projections and
    letters at once) that polling timed out as "database is locked" (issue 13). Reads do not
    queue (WAL: they never wait for a writer). A transaction begun inside one that holds the
    turn does not wait for it."""

    _turn: asyncio.Lock | None = None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:  # type: ignore[override]
        if _holding.get():
            async with super().begin() as session:
                yield session
            return
        if self._turn is None:
            self._turn = asyncio.Lock()
        try:
            await asyncio.wait_for(self._turn.acquire(), WRITE_TURN_WAIT)
            held = True
        except TimeoutError:
            held = False
        token = _holding.set(held)
        try:
            async with super().begin() as session:
                yield session
        finally:
            _holding.reset(token)
            if held:
                self._turn.release()

"""The test database: PostgreSQL over asyncpg (as in production), one fresh schema per run.

CSPR_TEST_DATABASE_URL overrides the server. Without PostgreSQL a developer's run falls back
to SQLite with a warning; in CI (CI=true) a missing PostgreSQL is a failure.
"""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def _reachable(url: str) -> bool:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
        return True
    except (OSError, Exception):
        return False
    finally:
        await engine.dispose()


async def test_database(tmp: Path) -> tuple[AsyncEngine, str | None, str]:
    """A migrated, empty database: (engine, schema to drop afterwards, url)."""
    url = os.environ.get("CSPR_TEST_DATABASE_URL", POSTGRES)
    if url.startswith("postgresql") and not await _reachable(url):
        if os.environ.get("CI"):
            raise RuntimeError(f"PostgreSQL is not reachable at {url}: .ci/run starts it")
        warnings.warn("PostgreSQL is not reachable: the case store tests run on SQLite",
                      stacklevel=1)
        url = f"sqlite+aiosqlite:///{tmp / 'cspr-test.db'}"
    schema = None
    if url.startswith("postgresql"):
        schema = f"cspr_test_{uuid.uuid4().hex[:12]}"
        admin = make_engine(url)
        async with admin.begin() as conn:
            await conn.execute(text(f'create schema "{schema}"'))
        await admin.dispose()
    engine = make_engine(url, schema=schema)
    async with engine.begin() as conn:
        await conn.run_sync(upgrade)
    return engine, schema, url


async def drop(engine: AsyncEngine, schema: str | None, url: str) -> None:
    await engine.dispose()
    if schema:
        admin = make_engine(url)
        async with admin.begin() as conn:
            await conn.execute(text(f'drop schema "{schema}" cascade'))
        await admin.dispose()

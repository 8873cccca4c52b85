"""`cspr backup`: an online backup of the embedded (SQLite) case store.

SQLite's backup API copies a consistent snapshot page by page while the worker and the API
keep writing (a file copy of a database in WAL mode can miss the last transactions or be torn).
PostgreSQL is backed up with its own tools, pg_dump and pg_restore (README, Backups).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


def sqlite_path(database_url: str) -> Path:
    """The file of a sqlite+aiosqlite:///FILE URL; ValueError for any other store."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise ValueError("CSPR_DATABASE_URL is not an SQLite file: back PostgreSQL up with "
                         "pg_dump (README, Backups)")
    return Path(url.database)


def backup(source: Path, target: Path) -> int:
    """Copy `source` into `target` (created or overwritten) online; returns its pages."""
    if not source.is_file():
        raise ValueError(f"{source}: no such database")
    if target.resolve() == source.resolve():
        raise ValueError("the backup cannot overwrite the database it copies")
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, \
            sqlite3.connect(target) as dst:
        src.backup(dst)
        pages: int = dst.execute("pragma page_count").fetchone()[0]
    return pages

"""A TCP relay in front of the tests' PostgreSQL that a test can cut and restore: a worker's
case store really going away (connections reset, new ones refused) and coming back on the same
address, with the database and everything in it unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from store.db import Sessionmaker, make_engine, make_sessionmaker
from tests.database import POSTGRES


class StoreProxy:
    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self._target = target
        self._server: asyncio.Server | None = None
        self._streams: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def restore(self) -> None:
        """Listen (again, on the same port): new connections reach the database."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening and reset every connection: the store is gone."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._streams):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._streams |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._streams -= {writer, up_writer}


@asynccontextmanager
async def behind_a_proxy(sessions: Sessionmaker) -> AsyncIterator[tuple[StoreProxy, Sessionmaker]]:
    """The same schema as `sessions`, reached through a proxy the test can cut."""
    async with sessions() as session:
        schema = str(await session.scalar(text("show search_path"))).strip('"')
    proxy = StoreProxy()
    await proxy.restore()
    engine = make_engine(re.sub(r"@[^/]+/", f"@127.0.0.1:{proxy.port}/", POSTGRES),
                         schema=schema)
    try:
        yield proxy, make_sessionmaker(engine)
    finally:
        with contextlib.suppress(Exception):
            await engine.dispose()
        if proxy._server is not None:
            await proxy.cut()

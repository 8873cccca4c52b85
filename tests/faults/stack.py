"""The whole service as separate processes the fault suite can kill: the Temporal dev server
(its state in a file, so it restarts where it stopped), the worker, the API (uvicorn), and in
this process a TCP proxy in front of PostgreSQL (to make the store refuse connections) and an
SMTP catcher that keeps each message's Message-ID."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError

from infra.binaries import temporal_cli
from infra.codec import EncryptionCodec
from infra.dev import _SEARCH_ATTRIBUTE_TYPES
from infra.temporal import data_converter
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
KEYS = "faults-1:" + base64.b64encode(bytes(range(1, 33))).decode()
JWT_SECRET = "faults-jwt-secret-" + "0123456789abcdef" * 2
POSTGRES = os.environ.get("CSPR_TEST_DATABASE_URL",
                          "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
START_TIMEOUT_S = 90.0
STOP_GRACE_S = 3.0


class Ports:
    """Ports for the stack: from CSPR_FAULT_PORT_BASE on when set (a developer's own range),
    else free ones the kernel gives."""

    def __init__(self) -> None:
        base = os.environ.get("CSPR_FAULT_PORT_BASE")
        self._next = int(base) if base else None

    def take(self) -> int:
        if self._next is None:
            with socket.socket() as s:
                s.bind((HOST, 0))
                return int(s.getsockname()[1])
        while _listening(self._next):
            self._next += 1
        port, self._next = self._next, self._next + 1
        return port


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


# --- PostgreSQL behind a proxy that can refuse -------------------------------------------------

class PgProxy:
    """Forwards TCP to PostgreSQL, and fails as PostgreSQL does when it goes away and comes back:
    `refuse()` ends every connection as a shutdown does (FATAL 57P01) and stops listening (new
    connections are refused); `starting()` listens again but answers every new connection as a
    server still recovering does (FATAL 57P03, "the database system is starting up"); `accept()`
    forwards again."""

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        self.port = port
        self.upstream = upstream
        self.recovering = False
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._upstreams: set[asyncio.StreamWriter] = set()

    async def accept(self) -> None:
        self.recovering = False
        await self._listen()

    async def starting(self) -> None:
        self.recovering = True
        await self._listen()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, HOST, self.port,
                                                      reuse_address=True)

    async def refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._clients):
            with contextlib.suppress(OSError, RuntimeError):
                writer.write(_fatal("57P01", "terminating connection due to administrator "
                                             "command"))
            writer.transport.abort()
        for writer in list(self._upstreams):
            writer.transport.abort()
        self._clients.clear()
        self._upstreams.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.recovering:
            await _answer_starting_up(reader, writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._clients.add(writer)
        self._upstreams.add(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._clients.discard(writer)
            self._upstreams.discard(up_writer)

    async def close(self) -> None:
        await self.refuse()


_SSL_REQUEST, _GSSENC_REQUEST = 80877103, 80877104


def _fatal(code: str, message: str) -> bytes:
    """A PostgreSQL ErrorResponse message of severity FATAL."""
    fields = b"".join(kind + value.encode() + b"\0" for kind, value in (
        (b"S", "FATAL"), (b"V", "FATAL"), (b"C", code), (b"M", message))) + b"\0"
    return b"E" + (len(fields) + 4).to_bytes(4, "big") + fields


async def _answer_starting_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the client's startup (declining SSL and GSS encryption), then refuse it."""
    try:
        while True:
            length = int.from_bytes(await reader.readexactly(4), "big")
            body = await reader.readexactly(length - 4)
            if int.from_bytes(body[:4], "big") in (_SSL_REQUEST, _GSSENC_REQUEST):
                writer.write(b"N")
                await writer.drain()
                continue
            writer.write(_fatal("57P03", "the database system is starting up"))
            await writer.drain()
            break
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.transport.abort()


# --- the mail catcher ----------------------------------------------------------------------------

@dataclass
class MailCatcher:
    """An SMTP server that keeps each message's Message-ID, in order of arrival."""

    port: int
    message_ids: list[str] = field(default_factory=list)
    _controller: Controller | None = None

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content or envelope.content,
                                     policy=default_policy)
        self.message_ids.append(str(message.get("Message-ID", "")).strip())
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname=HOST, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def duplicates(self) -> dict[str, int]:
        return {m: n for m, n in Counter(self.message_ids).items() if n > 1}


# --- the database --------------------------------------------------------------------------------

async def create_database(name: str) -> str:
    """A fresh database of the run's own, migrated; its URL (direct, not through the proxy)."""
    admin = create_async_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'create database "{name}"'))
    await admin.dispose()
    url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    migration = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head",
        cwd=ROOT, env={**os.environ, "CSPR_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await migration.communicate()
    if migration.returncode != 0:
        raise RuntimeError(f"migration failed: {output.decode(errors='replace')[-2000:]}")
    return url


async def drop_database(name: str) -> None:
    admin = create_async_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'drop database if exists "{name}" with (force)'))
    await admin.dispose()


# --- the processes -------------------------------------------------------------------------------

@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n=== start {self.starts + 1} at {time.time():.3f}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out,
                                          stderr=subprocess.STDOUT, process_group=0)
        self.starts += 1

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye, as a machine losing power."""
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def terminate(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()

    def wait_or_kill(self, seconds: float) -> None:
        if self.popen is None:
            return
        try:
            self.popen.wait(seconds)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    """The service's processes and the two in-process fakes, on ports of the run's own."""

    workdir: Path
    database: str = field(default_factory=lambda: f"cspr_faults_{uuid.uuid4().hex[:10]}")
    task_queue: str = field(default_factory=lambda: f"faults-{uuid.uuid4().hex[:8]}")
    ports: Ports = field(default_factory=Ports)
    processes: dict[str, Process] = field(default_factory=dict)
    proxy: PgProxy | None = None
    catcher: MailCatcher | None = None
    direct_url: str = ""
    client: Client | None = None
    engine: AsyncEngine | None = None
    temporal_port: int = 0
    api_port: int = 0

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.direct_url = await create_database(self.database)
        self.engine = create_async_engine(self.direct_url)
        proxy_port = self.ports.take()
        self.proxy = PgProxy(proxy_port, (HOST, 5432))
        await self.proxy.accept()
        self.catcher = MailCatcher(self.ports.take())
        self.catcher.start()
        self.temporal_port = self.ports.take()
        ui_port, self.api_port = self.ports.take(), self.ports.take()
        temporal = [temporal_cli(), "server", "start-dev",
                    "--db-filename", str(self.workdir / "temporal.db"),
                    "--ip", HOST, "--port", str(self.temporal_port),
                    "--ui-port", str(ui_port), "--headless", "--log-level", "error"]
        for key in sa.ALL:
            temporal += ["--search-attribute",
                         f"{key.name}={_SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type]}"]
        proxied = self.direct_url.replace(":5432/", f":{proxy_port}/")
        env = {**os.environ, "CSPR_ENCRYPTION_KEYS": KEYS, "CSPR_JWT_SECRET": JWT_SECRET,
               "CSPR_TEMPORAL_ADDRESS": f"{HOST}:{self.temporal_port}",
               "CSPR_TASK_QUEUE": self.task_queue, "CSPR_DATABASE_URL": proxied,
               "CSPR_SMTP_HOST": HOST, "CSPR_SMTP_PORT": str(self.catcher.port),
               "CSPR_SMTP_STARTTLS": "false", "CSPR_SMTP_TIMEOUT_SECONDS": "10",
               "CSPR_API_PORT": str(self.api_port), "PYTHONUNBUFFERED": "1"}
        for name in ("CSPR_SMTP_USERNAME", "CSPR_SMTP_PASSWORD", "CSPR_JWT_PUBLIC_KEY",
                     "CSPR_JWT_JWKS_URL"):
            env.pop(name, None)
        self.processes = {
            "temporal": Process("temporal", temporal, env, self.workdir / "temporal.log"),
            "worker": Process("worker", [sys.executable, str(ROOT / "worker.py")], env,
                              self.workdir / "worker.log"),
            "api": Process("api", [sys.executable, "-m", "uvicorn", "api.app:create_app",
                                   "--factory", "--host", HOST, "--port", str(self.api_port),
                                   "--log-level", "warning"], env, self.workdir / "api.log"),
        }
        await self.start_temporal()
        self.processes["worker"].start()
        self.processes["api"].start()
        await self._wait("the API", self._api_up)

    async def start_temporal(self) -> None:
        self.processes["temporal"].start()
        await self._wait("Temporal", self._temporal_up)

    async def _temporal_up(self) -> bool:
        try:
            client = await Client.connect(f"{HOST}:{self.temporal_port}",
                                          data_converter=data_converter(
                                              EncryptionCodec.from_setting(KEYS)))
            registered = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=client.namespace))
        except (RuntimeError, RPCError):
            return False
        if not all(key.name in registered.custom_attributes for key in sa.ALL):
            return False
        self.client = client
        return True

    async def _api_up(self) -> bool:
        try:
            _, writer = await asyncio.open_connection(HOST, self.api_port)
        except OSError:
            return False
        writer.close()
        return True

    async def _wait(self, what: str, ready: Any) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for process in self.processes.values():
                if process.starts and not process.alive() and process.name != "worker":
                    raise RuntimeError(f"{process.name} exited while waiting for {what}:\n"
                                       f"{process.tail()}")
            if await ready():
                return
            await asyncio.sleep(0.25)
        raise RuntimeError(f"{what} not ready after {START_TIMEOUT_S:.0f} s")

    async def stop(self) -> None:
        # Every check is done: no graceful shutdown to wait for (the worker's would wait for
        # its activities, Temporal's for its pollers). Each is asked to stop, all at once, and
        # killed after STOP_GRACE_S.
        running = [self.processes[n] for n in ("api", "worker", "temporal")
                   if n in self.processes]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            process.wait_or_kill(max(0.0, deadline - time.monotonic()))
        if self.catcher is not None:
            self.catcher.stop()
        if self.proxy is not None:
            await self.proxy.close()
        if self.engine is not None:
            await self.engine.dispose()
        if os.environ.get("CSPR_FAULT_KEEP"):  # to look at what went wrong
            print(f"kept: database {self.database}, logs and Temporal's in {self.workdir}",
                  flush=True)
            return
        with contextlib.suppress(Exception):
            await drop_database(self.database)

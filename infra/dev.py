"""`make run`: the whole service on this machine, for development.

Starts the Temporal dev server (state in `.data/temporal.db`, so cases survive a restart), a mail
catcher (what the service e-mails is kept in `.data/mail/` and listed on a web page, never
delivered), the worker and the API, each as a child process, and stops them all on Ctrl-C. On
the first run it creates a development encryption key in `.data/dev-encryption-key` and a
development secret for bearer tokens in `.data/dev-jwt-secret` (`cspr token` signs with it).

Environment (all optional):

| variable | default | meaning |
|---|---|---|
| CSPR_DATA_DIR | `.data` in the repository | Temporal's database and the dev key |
| CSPR_DEV_TEMPORAL_PORT | 7233 | Temporal gRPC port |
| CSPR_DEV_UI_PORT | 8233 | Temporal Web UI port |
| CSPR_DEV_SMTP_PORT | 1025 | the mail catcher's SMTP port (the worker sends there) |
| CSPR_DEV_MAIL_UI_PORT | 8025 | the mail catcher's web page |
| CSPR_DEV_TEMPORAL_LOG_LEVEL | error | the dev server's log level (debug, info, warn, error) |
| CSPR_DEV_API_METRICS_PORT | 9464 | the API's Prometheus metrics (`/metrics`) |
| CSPR_DEV_WORKER_METRICS_PORT | 9465 | the worker's: the case store's gauges |
| CSPR_DEV_SDK_METRICS_PORT | 9466 | the worker's Temporal SDK metrics |
| CSPR_API_HOST, CSPR_API_PORT | 127.0.0.1, 8000 | the API (see `infra.settings`) |
| CSPR_ENCRYPTION_KEYS | the dev key | used instead of the dev key when set |
| CSPR_JWT_SECRET | the dev secret | used instead of the dev secret when set |
| CSPR_DATABASE_URL | SQLite in the data dir | the case store (migrated before the worker starts) |
| CSPR_UI_ORIGIN | http://localhost:<UI port> | the UI's origin, the codec server's CORS |

With CSPR_JWT_PUBLIC_KEY or CSPR_JWT_JWKS_URL set, the API checks tokens with that instead.
Everything else (`CSPR_TEMPORAL_NAMESPACE`, `CSPR_TASK_QUEUE`, ...) is passed to the worker and
the API as it is; `CSPR_TEMPORAL_ADDRESS` is always set to the dev server started here, and
`CSPR_SMTP_*` to the mail catcher (a development run never e-mails anyone).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.service import RPCError

from infra.binaries import temporal_cli
from infra.codec import new_key_setting, parse_keys
from infra.settings import DEV_SECRET_PREFIX, Settings
from infra.temporal import set_namespace_retention
from workflows import search_attributes

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
KEY_FILE = "dev-encryption-key"
DEV_KEY_ID = "dev-1"
JWT_SECRET_FILE = "dev-jwt-secret"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.25

# The names `temporal server start-dev --search-attribute NAME=TYPE` accepts.
_SEARCH_ATTRIBUTE_TYPES = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


class DevError(Exception):
    """Something the developer must fix; printed without a traceback."""


@dataclass(frozen=True)
class DevConfig:
    data_dir: Path
    temporal_port: int
    ui_port: int
    temporal_log_level: str
    api_host: str
    api_port: int
    namespace: str
    task_queue: str
    encryption_keys: str
    key_source: str
    jwt_secret: str
    jwt_source: str
    smtp_port: int = 1025
    mail_ui_port: int = 8025
    api_metrics_port: int = 9464
    worker_metrics_port: int = 9465
    sdk_metrics_port: int = 9466
    retention_days: int = 30

    @property
    def metrics_urls(self) -> dict[str, str]:
        return {what: f"http://{HOST}:{port}/metrics" for what, port in (
            ("API", self.api_metrics_port), ("case store", self.worker_metrics_port),
            ("Temporal SDK", self.sdk_metrics_port))}

    @property
    def temporal_address(self) -> str:
        return f"{HOST}:{self.temporal_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def ui_url(self) -> str:
        return f"http://{HOST}:{self.ui_port}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def mail_ui_url(self) -> str:
        return f"http://{HOST}:{self.mail_ui_port}"

    @property
    def ui_origin(self) -> str:
        """The UI as the browser should open it: `localhost`, the codec's site (its cookie is
        SameSite=Lax; 127.0.0.1 would be another site)."""
        return f"http://localhost:{self.ui_port}"

    @property
    def codec_endpoint(self) -> str:
        """The API's codec server, as the UI's browser calls it."""
        loopback = self.api_host in ("127.0.0.1", "localhost", "0.0.0.0", "::1", "::", "")
        return f"http://{'localhost' if loopback else self.api_host}:{self.api_port}/v1/codec"


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "")
    if not value:
        return default
    try:
        port = int(value)
    except ValueError:
        raise DevError(f"{name}={value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise DevError(f"{name}={value!r} is not a port number")
    return port


def dev_key(data_dir: Path) -> str:
    """The development key, created on the first run (0600) and never overwritten."""
    path = data_dir / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        setting = path.read_text().strip()
        try:
            parse_keys(setting)
        except ValueError as e:
            raise DevError(f"{path} is not a valid key ({e}): move it away for a new one") from None
        return setting
    with os.fdopen(fd, "w") as f:
        f.write(new_key_setting(DEV_KEY_ID) + "\n")
    print(f"Created a development encryption key in {path}", flush=True)
    return path.read_text().strip()


def dev_jwt_secret(data_dir: Path) -> str:
    """The development secret for bearer tokens, created on the first run (0600), never
    overwritten; production refuses it by its prefix."""
    path = data_dir / JWT_SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if not secret.startswith(DEV_SECRET_PREFIX):
            raise DevError(f"{path} is not a development secret (it must start with "
                           f"{DEV_SECRET_PREFIX!r}): move it away for a new one") from None
        return secret
    with os.fdopen(fd, "w") as f:
        f.write(DEV_SECRET_PREFIX + secrets.token_urlsafe(32) + "\n")
    print(f"Created a development token secret in {path}", flush=True)
    return path.read_text().strip()


def data_dir_of(env: Mapping[str, str]) -> Path:
    return Path(env.get("CSPR_DATA_DIR") or ROOT / ".data").resolve()


def _jwt_secret(env: Mapping[str, str], data_dir: Path) -> tuple[str, str]:
    """The secret to pass to the API, and where it came from."""
    if env.get("CSPR_JWT_SECRET"):
        return env["CSPR_JWT_SECRET"], "CSPR_JWT_SECRET"
    for name in ("CSPR_JWT_PUBLIC_KEY", "CSPR_JWT_JWKS_URL"):
        if env.get(name):
            return "", name
    return dev_jwt_secret(data_dir), str(data_dir / JWT_SECRET_FILE)


def load_config(env: Mapping[str, str]) -> DevConfig:
    data_dir = data_dir_of(env)
    data_dir.mkdir(parents=True, exist_ok=True)
    if env.get("CSPR_ENCRYPTION_KEYS"):
        keys, key_source = env["CSPR_ENCRYPTION_KEYS"], "CSPR_ENCRYPTION_KEYS"
    else:
        keys, key_source = dev_key(data_dir), str(data_dir / KEY_FILE)
    jwt_secret, jwt_source = _jwt_secret(env, data_dir)
    try:
        settings = Settings(encryption_keys=keys, jwt_secret=jwt_secret)
    except ValueError as e:
        raise DevError(f"invalid configuration: {e}") from None
    return DevConfig(
        data_dir=data_dir,
        temporal_port=_port(env, "CSPR_DEV_TEMPORAL_PORT", 7233),
        ui_port=_port(env, "CSPR_DEV_UI_PORT", 8233),
        temporal_log_level=env.get("CSPR_DEV_TEMPORAL_LOG_LEVEL") or "error",
        api_host=settings.api_host,
        api_port=settings.api_port,
        namespace=settings.temporal_namespace,
        retention_days=settings.temporal_retention_days,
        task_queue=settings.task_queue,
        encryption_keys=keys,
        key_source=key_source,
        jwt_secret=jwt_secret,
        jwt_source=jwt_source,
        smtp_port=_port(env, "CSPR_DEV_SMTP_PORT", 1025),
        mail_ui_port=_port(env, "CSPR_DEV_MAIL_UI_PORT", 8025),
        api_metrics_port=_port(env, "CSPR_DEV_API_METRICS_PORT", 9464),
        worker_metrics_port=_port(env, "CSPR_DEV_WORKER_METRICS_PORT", 9465),
        sdk_metrics_port=_port(env, "CSPR_DEV_SDK_METRICS_PORT", 9466),
    )


def temporal_command(config: DevConfig) -> list[str]:
    command = [
        temporal_cli(), "server", "start-dev",
        "--db-filename", str(config.data_dir / "temporal.db"),
        "--ip", HOST,
        "--port", str(config.temporal_port),
        "--ui-port", str(config.ui_port),
        # The UI decodes payloads through the API (api/routes/codec.py). The CLI has no flag for
        # "include cross-origin credentials": the operator turns it on in the UI (README).
        "--ui-codec-endpoint", config.codec_endpoint,
        # Not warn: Temporal's own shutdown prints a dozen harmless warnings on every Ctrl-C.
        "--log-level", config.temporal_log_level,
    ]
    if config.namespace != "default":  # "default" always exists
        command += ["--namespace", config.namespace]
    for key in search_attributes.ALL:
        command += ["--search-attribute",
                    f"{key.name}={_SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type]}"]
    return command


def child_env(config: DevConfig, env: Mapping[str, str]) -> dict[str, str]:
    child = {**env, "CSPR_ENCRYPTION_KEYS": config.encryption_keys,
             "CSPR_TEMPORAL_ADDRESS": config.temporal_address}
    if config.jwt_secret:
        child["CSPR_JWT_SECRET"] = config.jwt_secret
    # The codec server answers the browser from the UI started here.
    child.setdefault("CSPR_UI_ORIGIN", config.ui_origin)
    # E-mail goes to the mail catcher started here, never to a relay the shell may name.
    for name in ("CSPR_SMTP_USERNAME", "CSPR_SMTP_PASSWORD"):
        child.pop(name, None)
    child |= {"CSPR_SMTP_HOST": HOST, "CSPR_SMTP_PORT": str(config.smtp_port),
              "CSPR_SMTP_STARTTLS": "false"}
    # Metrics on the ports printed at start (README, Operations).
    child |= {"CSPR_METRICS_HOST": HOST,
              "CSPR_API_METRICS_PORT": str(config.api_metrics_port),
              "CSPR_WORKER_METRICS_PORT": str(config.worker_metrics_port),
              "CSPR_WORKER_SDK_METRICS_PORT": str(config.sdk_metrics_port)}
    # The embedded case store: SQLite beside Temporal's database, unless one is configured.
    child.setdefault("CSPR_DATABASE_URL", f"sqlite+aiosqlite:///{config.data_dir / 'cspr.db'}")
    return child


def migrate(env: Mapping[str, str]) -> None:
    """Bring the case store's schema up to date (alembic upgrade head)."""
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
        env=dict(env), cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DevError(f"the case store migration failed:\n{done.stderr.strip()}")


def api_command(config: DevConfig) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
            "--host", config.api_host, "--port", str(config.api_port)]


def mail_catcher_command(config: DevConfig) -> list[str]:
    return [sys.executable, "-m", "infra.mail_catcher", "--smtp-port", str(config.smtp_port),
            "--http-port", str(config.mail_ui_port), "--dir", str(config.mail_dir)]


def worker_command() -> list[str]:
    return [sys.executable, str(ROOT / "worker.py")]


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def check_ports_free(config: DevConfig) -> None:
    """Refuse to start beside another instance: its answers would look like ours."""
    for what, host, port in (("Temporal", HOST, config.temporal_port),
                             ("Temporal UI", HOST, config.ui_port),
                             ("API", config.api_host, config.api_port),
                             ("mail catcher SMTP", HOST, config.smtp_port),
                             ("mail catcher page", HOST, config.mail_ui_port),
                             ("API metrics", HOST, config.api_metrics_port),
                             ("worker metrics", HOST, config.worker_metrics_port),
                             ("Temporal SDK metrics", HOST, config.sdk_metrics_port)):
        if _listening(host, port):
            raise DevError(f"port {port} ({what}) is already in use: is another `make run` "
                           f"still running? Stop it, or choose other ports (see infra/dev.py)")


async def _temporal_ready(config: DevConfig) -> bool:
    """Temporal answers, the namespace exists and our search attributes are registered."""
    try:
        client = await Client.connect(config.temporal_address, namespace=config.namespace)
        registered = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=config.namespace)
        )
    except (RuntimeError, RPCError):
        return False
    return all(key.name in registered.custom_attributes for key in search_attributes.ALL)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError):
        return False


class Supervisor:
    """Starts the children, watches them, and stops them all in reverse order."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.children: list[Child] = []
        self.stop_requested = False

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stop_requested:
            print(f"\n{signal.Signals(signum).name}: stopping cspr...", flush=True)
        self.stop_requested = True

    def start(self, name: str, command: Sequence[str]) -> None:
        # A process group of its own: Ctrl-C reaches only this supervisor, which then stops
        # the children in order (API, worker, Temporal) instead of all at once.
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, process_group=0)
        self.children.append(Child(name, process))

    def dead_child(self) -> Child | None:
        return next((c for c in self.children if c.process.poll() is not None), None)

    def wait_until(self, what: str, ready: Callable[[], bool]) -> bool:
        """Poll `ready` until true; False if stopped. Raises if a child dies or time runs out."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.stop_requested:
            if (dead := self.dead_child()) is not None:
                raise DevError(f"{dead.name} exited with code {dead.process.returncode} "
                               f"while waiting for {what}")
            if ready():
                return True
            if time.monotonic() > deadline:
                raise DevError(f"{what} not ready after {START_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)
        return False

    def watch(self) -> None:
        """Return on a stop request; raise if a child exits on its own."""
        while not self.stop_requested:
            if (dead := self.dead_child()) is not None:
                raise DevError(f"{dead.name} exited with code {dead.process.returncode}")
            time.sleep(POLL_S)

    def stop_all(self) -> None:
        for child in reversed(self.children):
            process = child.process
            if process.poll() is None:
                # SIGTERM, as a process manager would send: uvicorn, Temporal and worker.py
                # (which lets running activities finish) shut down gracefully on it.
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    print(f"{child.name} did not stop within {STOP_TIMEOUT_S:.0f} s: killing it",
                          flush=True)
                    process.kill()
                    process.wait()
        self.children.clear()


async def _set_retention(config: DevConfig) -> None:
    """The dev server creates its namespaces with a day's retention: set ours deliberately."""
    client = await Client.connect(config.temporal_address, namespace=config.namespace)
    await set_namespace_retention(client, config.retention_days)


def print_banner(config: DevConfig) -> None:
    rows = [
        ("Workspace", f"{config.api_url} (development sign-in: anyone in the directory)"),
        ("API", f"{config.api_url}/v1"),
        ("API docs", f"{config.api_url}/docs"),
        ("Temporal UI", f"{config.ui_origin} (payloads decoded by {config.codec_endpoint})"),
        ("Temporal gRPC", f"{config.temporal_address} (namespace {config.namespace}, "
                          f"task queue {config.task_queue}; closed workflows kept "
                          f"{config.retention_days} days)"),
        ("Mail catcher", f"{config.mail_ui_url} (SMTP on {HOST}:{config.smtp_port}; "
                         f"kept in {config.mail_dir}, never delivered)"),
        ("Metrics", ", ".join(f"{what} {url}" for what, url in config.metrics_urls.items())),
        ("State", f"{config.data_dir} (temporal.db)"),
        ("Encryption key", config.key_source),
        ("Token secret", config.jwt_source),
        ("A token", ".venv/bin/cspr token --role mars_team (see README, Tokens and roles)"),
        ("Codec session", f"{config.codec_endpoint}/session: paste a token there, then turn on "
                          "\"Include cross-origin credentials\" in the UI's codec settings "
                          "(README, Reading payloads in the Temporal UI)"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["", "cspr is running. Ctrl-C stops it.", ""]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    print("\n".join([*lines, ""]), flush=True)


def serve(supervisor: Supervisor, config: DevConfig) -> None:
    """Start Temporal, then the worker and the API once it answers; watch them until stopped."""
    print(f"Starting Temporal on {config.temporal_address} (state in {config.data_dir})",
          flush=True)
    supervisor.start("Temporal", temporal_command(config))
    if not supervisor.wait_until("Temporal", lambda: asyncio.run(_temporal_ready(config))):
        return
    asyncio.run(_set_retention(config))
    supervisor.start("mail catcher", mail_catcher_command(config))
    if not (supervisor.wait_until("the mail catcher", lambda: _listening(HOST, config.smtp_port))
            and supervisor.wait_until("the mail catcher's page",
                                      lambda: _http_ok(config.mail_ui_url))):
        return
    supervisor.start("worker", worker_command())
    supervisor.start("API", api_command(config))
    if not (supervisor.wait_until("the API", lambda: _http_ok(f"{config.api_url}/healthz"))
            and supervisor.wait_until("the Temporal UI", lambda: _http_ok(config.ui_url))):
        return
    print_banner(config)
    supervisor.watch()


def run(env: Mapping[str, str]) -> int:
    config = load_config(env)
    check_ports_free(config)
    if env.get("CSPR_TEMPORAL_ADDRESS", config.temporal_address) != config.temporal_address:
        print(f"Note: CSPR_TEMPORAL_ADDRESS={env['CSPR_TEMPORAL_ADDRESS']} is ignored: the worker "
              f"and the API use the Temporal started here, {config.temporal_address}", flush=True)
    children_env = child_env(config, env)
    print("Migrating the case store", flush=True)
    try:
        migrate(children_env)
    except DevError as e:
        print(f"cspr: {e}", file=sys.stderr, flush=True)
        return 1
    supervisor = Supervisor(children_env)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    try:
        serve(supervisor, config)
    except DevError as e:
        print(f"cspr: {e}; stopping", file=sys.stderr, flush=True)
        return 1
    finally:
        supervisor.stop_all()
    print("cspr stopped.", flush=True)
    return 0


def main() -> None:
    try:
        code = run(os.environ)
    except DevError as e:
        print(f"cspr: {e}", file=sys.stderr)
        code = 1
    # Without interpreter finalisation: the Temporal SDK's core threads (used here to wait for
    # the dev server) can abort the process while Python shuts down, losing the exit status.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

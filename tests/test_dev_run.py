"""`make run` end to end: `python -m infra.dev` starts the whole service, takes a notification
with a token from `cspr token`, stops on Ctrl-C, and keeps its cases, key and token secret
across a restart."""

from __future__ import annotations

import json
import os
import random
import signal
import smtplib
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from infra.binaries import temporal_cli

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _free_ports(n: int) -> list[int]:
    """Free ports below the kernel's ephemeral range (32768 and up here): the restart binds the
    same ports again, and a port from that range can meanwhile be taken as the local end of
    any process's outgoing connection (one run failed so: "address already in use")."""
    found: list[int] = []
    rng = random.Random()
    while len(found) < n:
        port = rng.randrange(20000, 32000)
        if port in found:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
    return found


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> set[int]:
    found = set()
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ")".
            fields = stat_file.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            found.add(int(stat_file.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class DevRun:
    def __init__(self, process: subprocess.Popen[bytes], log: Path, api: str) -> None:
        self.process, self.log, self.api = process, log, api

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"infra.dev exited early:\n{self.output()}"
            try:
                if all(httpx.get(f"{self.api}{path}", timeout=2).status_code == 200
                       for path in ("/healthz", "/readyz")):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        pytest.fail(f"not ready within {START_TIMEOUT_S} s:\n{self.output()}")

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"did not stop within {STOP_TIMEOUT_S} s of SIGINT:\n{self.output()}")


@contextmanager
def dev_run(env: dict[str, str], log: Path, api: str) -> Iterator[DevRun]:
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "infra.dev"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    children: set[int] = set()
    try:
        run = DevRun(process, log, api)
        run.wait_ready()
        children = _children(process.pid)
        yield run
    finally:
        if process.poll() is None:  # the test failed half way: leave nothing running
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in children | _children(process.pid):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _token(env: dict[str, str], role: str) -> str:
    """`cspr token` as a developer runs it, beside `make run`."""
    done = subprocess.run([sys.executable, "-m", "infra.cli", "token", "--role", role],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_make_run_serves_stops_and_restarts_with_state(tmp_path: Path) -> None:
    (temporal_port, ui_port, api_port, smtp_port, mail_port,
     api_metrics, worker_metrics, sdk_metrics) = _free_ports(8)
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSPR_")}
    env |= {"CSPR_DATA_DIR": str(data_dir), "CSPR_DEV_TEMPORAL_PORT": str(temporal_port),
            "CSPR_DEV_UI_PORT": str(ui_port), "CSPR_API_PORT": str(api_port),
            "CSPR_DEV_SMTP_PORT": str(smtp_port), "CSPR_DEV_MAIL_UI_PORT": str(mail_port),
            "CSPR_DEV_API_METRICS_PORT": str(api_metrics),
            "CSPR_DEV_WORKER_METRICS_PORT": str(worker_metrics),
            "CSPR_DEV_SDK_METRICS_PORT": str(sdk_metrics)}
    api = f"http://127.0.0.1:{api_port}"
    log = tmp_path / "dev.log"
    key_file = data_dir / "dev-encryption-key"
    secret_file = data_dir / "dev-jwt-secret"

    with dev_run(env, log, api) as run:
        children = _children(run.process.pid)
        assert len(children) == 4, run.output()  # Temporal, mail catcher, worker, API
        assert httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=5).status_code == 200
        # The mail catcher keeps what is sent to it, and lists it on its page.
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.sendmail("mars@northlincs.gov.uk", ["dsp@cspr.test"],
                          b"Subject: CSPR-2026-0001: make run\r\n\r\nCaught.\r\n")
        assert len(list((data_dir / "mail").glob("*.eml"))) == 1
        page = httpx.get(f"http://127.0.0.1:{mail_port}/", timeout=5)
        assert "CSPR-2026-0001: make run" in page.text
        yesterday = (date.today() - timedelta(days=1)).isoformat()
        notification = {
            "notifying_agency": "Humberside Police",
            "incident": {"date": yesterday, "harm": "serious_harm",
                         "abuse_or_neglect": "suspected"},
            "children": [{"reference": "NL-1"}],
        }
        refused = httpx.post(f"{api}/v1/notifications", timeout=30, json=notification)
        assert refused.status_code == 401, refused.text
        mars = {"Authorization": f"Bearer {_token(env, 'mars_team')}"}
        created = httpx.post(f"{api}/v1/notifications", timeout=30, json=notification,
                             headers=mars)
        assert created.status_code == 201, created.text
        case_id = created.json()["case_id"]
        # The metrics, on the ports the banner names (README, Operations).
        for port in (api_metrics, worker_metrics, sdk_metrics):
            assert f"http://127.0.0.1:{port}/metrics" in run.output()
        exposed = httpx.get(f"http://127.0.0.1:{api_metrics}/metrics", timeout=5).text
        assert ('cspr_api_requests_total{method="POST",route="/v1/notifications",status="201"}'
                in exposed)
        assert "cspr_store_up" in httpx.get(f"http://127.0.0.1:{worker_metrics}/metrics",
                                            timeout=5).text
        assert "temporal_num_pollers" in httpx.get(f"http://127.0.0.1:{sdk_metrics}/metrics",
                                                   timeout=5).text
        # The namespace's retention, set deliberately (the dev server's own default is a day).
        assert "closed workflows kept 30 days" in run.output()
        described = subprocess.run(
            [temporal_cli(), "operator", "namespace", "describe", "--namespace", "default",
             "--address", f"127.0.0.1:{temporal_port}", "--output", "json"],
            capture_output=True, text=True, timeout=30, check=True)
        assert json.loads(described.stdout)["config"]["workflowExecutionRetentionTtl"] == "2592000s"
        # The API's and the worker's logs are JSON lines; the access line names no child.
        access = [json.loads(line) for line in run.output().splitlines()
                  if '"cspr.api.access"' in line]
        assert {(a["route"], a["status"]) for a in access} >= {("/v1/notifications", 201)}
        assert "NL-1" not in run.output()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text()
        assert key.startswith("dev-1:")
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        secret = secret_file.read_text()
        assert secret.startswith("dev-")

        assert run.interrupt() == 0, run.output()
        assert not any(_alive(pid) for pid in children), run.output()
        assert not any(_listening(p) for p in (temporal_port, ui_port, api_port, smtp_port,
                                               mail_port, api_metrics, worker_metrics,
                                               sdk_metrics))

    with dev_run(env, log, api) as run:
        # The same secret: a token from before the restart still works.
        case = httpx.get(f"{api}/v1/cases/{case_id}", timeout=30, headers=mars)
        assert case.status_code == 200, case.text
        assert case.json()["case_id"] == case_id
        assert key_file.read_text() == key
        assert secret_file.read_text() == secret
        assert run.interrupt() == 0, run.output()

"""Logs: a whole case through the real API, its worker and a dev server of the test's own, with
a child's reference, date of birth and the incident's summary set. Every line of the API and
the worker is one JSON object tying it to its request or workflow, and neither they nor the dev
server's log ever hold the child's details."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client

from api.app import create_app
from infra import logs
from infra.dev import DevConfig, temporal_command
from infra.settings import Settings
from store.db import Sessionmaker
from tests.conftest import CONVERTER, TEST_JWT_SECRET, TEST_KEYS, as_role, http_client, new_worker
from tests.smtp import free_port
from tests.test_api import PARTNERS, SSL, dsp, ok

REFERENCE = "NLREF-LOGS-83519"
DATE_OF_BIRTH = "2017-03-29"
SUMMARY = "Unexplained bruising seen by the childminder at pick-up"
SECRETS = (REFERENCE, DATE_OF_BIRTH, SUMMARY, "Unexplained bruising")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line of this process (the API's and the worker's), rendered as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.json_formatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    flags = workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message
    workflow.logger.workflow_info_on_message = activity.logger.activity_info_on_message = False
    yield stream
    workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message = flags
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def dev_server(tmp_path: Path) -> AsyncIterator[tuple[Client, Path]]:
    """A dev server as `make run` starts it, at log level info, its output kept in a file."""
    config = DevConfig(
        data_dir=tmp_path, temporal_port=free_port(), ui_port=free_port(),
        temporal_log_level="info", api_host="127.0.0.1", api_port=0, namespace="default",
        task_queue="unused", encryption_keys=TEST_KEYS, key_source="test", jwt_secret="",
        jwt_source="test")
    log_file = tmp_path / "temporal.log"
    with log_file.open("wb") as out:
        server = await asyncio.create_subprocess_exec(
            *temporal_command(config), "--headless", stdout=out, stderr=subprocess.STDOUT)
        try:
            client = await _connect(config)
            yield client, log_file
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), 10)


async def _connect(config: DevConfig) -> Client:
    for _ in range(200):
        try:
            return await Client.connect(config.temporal_address, data_converter=CONVERTER)
        except RuntimeError:
            await asyncio.sleep(0.1)
    raise AssertionError("the dev server did not answer")


def notification() -> dict[str, Any]:
    return {
        "notifying_agency": "North Lincolnshire Council",
        "incident": {"date": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
                     "harm": "death", "abuse_or_neglect": "suspected", "summary": SUMMARY},
        "children": [{"reference": REFERENCE, "date_of_birth": DATE_OF_BIRTH,
                      "looked_after": True}],
    }


async def test_a_whole_case_logs_json_lines_and_never_the_childs_details(
    captured: io.StringIO, dev_server: tuple[Client, Path], sessions: Sessionmaker,
) -> None:
    client, server_log = dev_server
    async with new_worker(client, sessions) as worker:
        settings = Settings(encryption_keys=TEST_KEYS, task_queue=worker.task_queue,
                            jwt_secret=TEST_JWT_SECRET)
        app = create_app(settings, client, sessions)
        async with app.router.lifespan_context(app), \
                http_client(app, as_role("mars_team")) as api:
            # A refusal that quotes nothing it was given: five children, the reference in each.
            too_many = notification() | {"children": [
                {"reference": f"{REFERENCE}-{i}"} for i in range(5)]}
            refused = await api.post("/v1/notifications", json=too_many)
            assert refused.status_code == 422
            created = await api.post("/v1/notifications", json=notification(),
                                     headers={"X-Request-ID": "req-logs-test-0001"})
            assert created.status_code == 201, created.text
            assert created.headers["X-Request-ID"] == "req-logs-test-0001"
            case_id = created.json()["case_id"]
            await ok(api, case_id, "inform-partners")
            await ok(api, case_id, "ssl-recommendation", SSL, criteria_met=True,
                     recommend_panel_notification=True, rationale="Criteria met")
            for partner in PARTNERS:
                await ok(api, case_id, "dsp-decision", dsp(partner), partner=partner,
                         criteria_met=True, rationale="Agreed")
            # Out of turn: a refused record, logged by the workflow, quoting no content.
            refused = await api.post(f"/v1/cases/{case_id}/rapid-review-submission", json={})
            assert refused.status_code == 409
            assert (await api.get(f"/v1/cases/{case_id}")).status_code == 200
            assert (await api.get("/v1/cases/CSPR-1999-0001")).status_code == 404
            # An unknown path that quotes the child: the access line names no path.
            await api.get(f"/v1/nothing/{REFERENCE}")
        # Let the projection and the audit activities catch up before the worker stops.
        await asyncio.sleep(1.0)

    every = [line for line in captured.getvalue().splitlines() if line.strip()]
    assert all(isinstance(json.loads(line), dict) for line in every)  # one JSON object a line
    # Not the test's own HTTP client's lines (httpx quotes the URL it was asked for).
    lines = [line for line in every if not json.loads(line)["logger"].startswith("http")]
    records = [json.loads(line) for line in lines]
    assert all(isinstance(r, dict) and "event" in r and "level" in r for r in records)
    for secret in SECRETS:
        assert not [line for line in lines if secret in line], secret

    access = [r for r in records if r.get("logger") == "cspr.api.access"]
    created_line = next(r for r in access if r["request_id"] == "req-logs-test-0001")
    assert created_line["route"] == "/v1/notifications"
    assert created_line["status"] == 201
    assert created_line["actor_role"] == "mars_team"
    by_case = [r for r in access if r.get("case_id") == case_id]
    assert {r["route"] for r in by_case} >= {"/v1/cases/{case_id}",
                                           "/v1/cases/{case_id}/dsp-decision"}
    assert {r["actor_role"] for r in by_case} >= {"mars_team", "dsp", "ssl"}
    assert all(len(r["request_id"]) >= 8 for r in access)
    assert {r["route"] for r in access if r["status"] == 404} >= {"unmatched"}
    # The worker's lines name their workflow, run and case.
    worker_lines = [r for r in records if r.get("workflow_id") == case_id]
    assert worker_lines, "no line from the case's workflow or activities"
    assert all(r["case_id"] == case_id and r.get("run_id") for r in worker_lines), worker_lines

    server_text = server_log.read_text(errors="replace")
    assert server_text.strip(), "the dev server logged nothing at info"
    for secret in SECRETS:
        assert secret not in server_text, secret


def test_an_exception_is_logged_by_its_type_never_its_text(captured: io.StringIO) -> None:
    try:
        raise ValueError(f"child {REFERENCE} born {DATE_OF_BIRTH}")
    except ValueError:
        logging.getLogger("cspr.test").exception("failed %s", "once")
    (line,) = [json.loads(x) for x in captured.getvalue().splitlines() if "cspr.test" in x]
    assert line["event"] == "failed once"
    assert line["exception"] == "ValueError"
    assert REFERENCE not in json.dumps(line)


def test_a_workflow_id_names_its_case() -> None:
    assert logs.case_of("CSPR-2026-0007-LCSPR") == "CSPR-2026-0007"
    assert logs.case_of(f"tq-{uuid.uuid4()}") is None

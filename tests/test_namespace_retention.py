"""Temporal's namespace retention is set deliberately: `make run` sets its dev server's to
CSPR_TEMPORAL_RETENTION_DAYS, the production recipe's namespace script creates (or corrects) the
namespace with it, and the worker says at start when the namespace's is not the configured one."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra import dev
from infra.binaries import temporal_cli
from infra.settings import Settings
from infra.temporal import check_namespace_retention, namespace_retention, set_namespace_retention
from tests.conftest import TEST_KEYS

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE_SCRIPT = ROOT / "deploy" / "temporal-namespace.sh"


async def _new_namespace(env: WorkflowEnvironment, days: int) -> Client:
    name = f"retention-{uuid.uuid4().hex[:8]}"
    await env.client.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace=name, workflow_execution_retention_period=Duration(seconds=days * 86400)))
    return await Client.connect(env.client.service_client.config.target_host, namespace=name)


async def test_the_retention_is_set_and_the_worker_warns_when_it_differs(
    dev_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture,
) -> None:
    client = await _new_namespace(dev_env, 1)
    assert await namespace_retention(client) == timedelta(days=1)
    caplog.set_level(logging.INFO, logger="cspr.temporal")
    assert await check_namespace_retention(client, 30) == timedelta(days=1)
    assert "not the 30 days configured" in caplog.text

    assert await set_namespace_retention(client, 30) == timedelta(days=1)
    assert await namespace_retention(client) == timedelta(days=30)
    assert await set_namespace_retention(client, 30) == timedelta(days=30)  # nothing to change
    caplog.clear()
    assert await check_namespace_retention(client, 30) == timedelta(days=30)
    assert "not the" not in caplog.text
    assert "keeps closed workflows for 30 days" in caplog.text


def test_make_run_takes_the_retention_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(encryption_keys=TEST_KEYS).temporal_retention_days == 30
    monkeypatch.setenv("CSPR_TEMPORAL_RETENTION_DAYS", "90")
    config = dev.load_config({"CSPR_DATA_DIR": str(tmp_path)})
    assert config.retention_days == 90
    monkeypatch.setenv("CSPR_TEMPORAL_RETENTION_DAYS", "0")  # below Temporal's minimum
    with pytest.raises(dev.DevError, match="temporal_retention_days"):
        dev.load_config({"CSPR_DATA_DIR": str(tmp_path)})


async def _run_script(env: Mapping[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "sh", str(NAMESPACE_SCRIPT), env=dict(env), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_production_namespace_script_creates_then_corrects_the_retention(
    dev_env: WorkflowEnvironment,
) -> None:
    namespace = f"cspr-{uuid.uuid4().hex[:8]}"
    env = {
        "PATH": f"{Path(temporal_cli()).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": namespace,
        "TEMPORAL_RETENTION_DAYS": "45",
    }
    code, output = await _run_script(env)
    assert code == 0, output
    assert "created, retention 45 days" in output
    client = await Client.connect(env["TEMPORAL_ADDRESS"], namespace=namespace)
    assert await namespace_retention(client) == timedelta(days=45)

    code, output = await _run_script({**env, "TEMPORAL_RETENTION_DAYS": "60"})
    assert code == 0, output
    assert "retention set to 60 days" in output
    assert await namespace_retention(client) == timedelta(days=60)

    for bad in ("0", "30d", ""):
        code, output = await _run_script({**env, "TEMPORAL_RETENTION_DAYS": bad})
        assert code != 0, bad
    assert await namespace_retention(client) == timedelta(days=60)

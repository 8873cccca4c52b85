"""The alert rules and the dashboard: promtool checks and unit-tests the rules (when it is
installed: Debian's `prometheus` package; .ci/run installs it), and every expression names
only metrics the service or the Temporal SDK exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.case_store import ProjectionCounts
from api.telemetry import ApiMetrics
from infra.metrics import ProjectionCollector, StoreCollector

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "cspr.rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "cspr-dashboard.json"
# The Temporal SDK runtime's metrics the rules use (checked against a live worker in
# tests/test_metrics.py for the pollers; names as the SDK's Prometheus endpoint serves them).
SDK_METRICS = {"temporal_num_pollers", "temporal_activity_execution_failed_total",
               "temporal_local_activity_execution_failed_total",
               "temporal_workflow_task_schedule_to_start_latency_bucket"}
REQUIRED = {"CsprStatutoryStepOverdue", "CsprEmailFailedOrUncertain", "CsprProjectionFailing",
            "CsprProjectionRefused", "CsprProjectionStoreUnavailable", "CsprNoWorkerPolling",
            "CsprApiErrorRate"}
_METRIC = re.compile(r"\b((?:cspr|temporal)_[a-z_]+)\b")
promtool = shutil.which("promtool")


def exported() -> set[str]:
    names = set(SDK_METRICS)
    for family in [*ApiMetrics().registry.collect(), *StoreCollector().collect(),
                   *ProjectionCollector(ProjectionCounts()).collect()]:
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(
            family.type, [""])
        names |= {family.name + suffix for suffix in suffixes}
    return names


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_asked_for_is_there_with_a_severity_and_a_summary() -> None:
    alerts = {rule["alert"]: rule for rule in rules()}
    assert REQUIRED <= set(alerts)
    for rule in alerts.values():
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["summary"]


def test_the_rules_and_the_dashboard_name_only_exported_metrics() -> None:
    known = exported()
    expressions = [rule["expr"] for rule in rules()]
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    expressions += [target["expr"] for panel in panels for target in panel["targets"]]
    for expr in expressions:
        assert set(_METRIC.findall(expr)) <= known, expr
    # Every alert has its panel (named in the panel's description).
    described = " ".join(panel["description"] for panel in panels)
    assert all(alert in described for alert in REQUIRED)
    assert len({panel["id"] for panel in panels}) == len(panels)


@pytest.mark.skipif(promtool is None, reason="promtool not installed (Debian: prometheus)")
@pytest.mark.parametrize("args", [
    ["check", "rules", "cspr.rules.yml"],
    ["test", "rules", "cspr.rules.test.yml"],
    ["check", "config", "prometheus.yml"],
])
def test_promtool(args: list[str]) -> None:
    assert promtool is not None
    done = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr

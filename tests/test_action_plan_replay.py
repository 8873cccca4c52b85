"""Committed action-plan histories replay on today's ActionPlan code: a change that would
break a running plan fails here (gate it with `workflow.patched`; never re-record to pass).

Recorded by `python -m tests.histories.record_action_plan TAG`, one file per run of a plan.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from tests.conftest import CONVERTER, without_patch
from worker import WORKFLOW_RUNNER
from workflows.action_plan import ActionPlanWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories" / "action_plan").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


def test_there_are_action_plan_histories_to_replay() -> None:
    # ap2: recorded with the bounded projection (patch "projection-alert"); ap3: each partner
    # signs off and agrees a transfer (patch "plan-partners"), each review reported by e-mail
    # (patch "plan-review-report"); ap4: a run carries only its latest reviews (patch
    # "plan-bounded-carry").
    assert {p.stem.rsplit(".", 1)[1] for p in HISTORIES} >= {"ap1", "ap2", "ap3", "ap4"}
    events = {e.event_type for p in HISTORIES for e in load(p).events}
    # Between them: runs that continued as new and runs that completed, signals and accepted
    # updates, and timers that fired (reminders, escalations).
    assert {EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            EventType.EVENT_TYPE_TIMER_FIRED} <= events


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_action_plan_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[ActionPlanWorkflow], data_converter=CONVERTER,
                        workflow_runner=WORKFLOW_RUNNER)
    result = await replayer.replay_workflow(load(path))
    assert result.replay_failure is None


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_an_unguarded_change_fails_replay(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishing no search attributes (a change of commands) is caught by every run."""
    # Unsandboxed, so the monkeypatched code is the code that replays.
    replayer = Replayer(workflows=[ActionPlanWorkflow], data_converter=CONVERTER,
                        workflow_runner=UnsandboxedWorkflowRunner())
    unchanged = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert unchanged.replay_failure is None
    monkeypatch.setattr(ActionPlanWorkflow, "_publish", lambda _: None)
    changed = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert changed.replay_failure is not None


@pytest.mark.parametrize("path", [p for p in HISTORIES if p.stem.endswith(".ap5")],
                         ids=lambda p: p.stem)
async def test_ap5_writes_its_part_by_a_local_activity(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: an action plan under "projection-local" writes its part of the case store by a
    local activity (the plan no longer an input kept in the history); code that schedules
    `project_part` as an activity does not replay ap5."""
    events = load(path).events
    assert "projection-local" in {
        json.loads(p.data)["id"] for e in events if e.HasField("marker_recorded_event_attributes")
        and "patch-data" in e.marker_recorded_event_attributes.details
        for p in e.marker_recorded_event_attributes.details["patch-data"].payloads}
    assert not any(e.activity_task_scheduled_event_attributes.activity_type.name == "project_part"
                   for e in events if e.HasField("activity_task_scheduled_event_attributes"))
    assert any(e.marker_recorded_event_attributes.marker_name == "core_local_activity"
               for e in events if e.HasField("marker_recorded_event_attributes"))
    replayer = Replayer(workflows=[ActionPlanWorkflow], data_converter=CONVERTER,
                        workflow_runner=UnsandboxedWorkflowRunner())
    assert (await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
            ).replay_failure is None
    without_patch(monkeypatch, "projection-local")
    assert (await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
            ).replay_failure is not None

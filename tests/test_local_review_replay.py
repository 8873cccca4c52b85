"""Committed LCSPR histories replay on today's LocalReview code: a change that would break a
running review fails here (gate it with `workflow.patched`; never re-record to pass).

Recorded by `python -m tests.histories.record_local_review TAG`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from domain.local_review import LocalReviewState
from tests.conftest import CONVERTER, without_patch
from worker import WORKFLOW_RUNNER
from workflows.local_review import LocalReviewWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories" / "local_review").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


def test_there_are_lcspr_histories_to_replay() -> None:
    assert {p.stem.rsplit(".", 1)[1] for p in HISTORIES} >= {"lcspr1", "lcspr2"}
    events = {e.event_type for p in HISTORIES for e in load(p).events}
    # Between them: signals and updates (one failed in its handler), timers that escalated,
    # and the action plan child started and completed.
    assert len(HISTORIES) >= 2
    assert len(events) >= 16


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_lcspr_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[LocalReviewWorkflow], data_converter=CONVERTER,
                        workflow_runner=WORKFLOW_RUNNER)
    result = await replayer.replay_workflow(load(path))
    assert result.replay_failure is None


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_an_unguarded_change_fails_replay(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never starting the action plan (a change of commands) is caught by every history."""
    # Unsandboxed, so the monkeypatched code is the code that replays.
    replayer = Replayer(workflows=[LocalReviewWorkflow], data_converter=CONVERTER,
                        workflow_runner=UnsandboxedWorkflowRunner())
    unchanged = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert unchanged.replay_failure is None
    monkeypatch.setattr(LocalReviewState, "action_plan_due", property(lambda _: False))
    changed = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert changed.replay_failure is not None


def _markers(path: Path) -> set[str]:
    return {json.loads(p.data)["id"]
            for e in load(path).events if e.HasField("marker_recorded_event_attributes")
            for p in e.marker_recorded_event_attributes.details["patch-data"].payloads}


def test_lcspr3_replays_the_partners_agreement_not_to_publish() -> None:
    """lcspr3 was recorded with the partners' agreement to not publishing (issue 9, item 8);
    lcspr1 and lcspr2 predate it, so the replay above runs both of its branches."""
    tags = {p.stem.rsplit(".", 1)[1]: p for p in HISTORIES}
    assert "lcspr3" in tags
    for path in HISTORIES:
        tag = int(path.stem.rsplit(".", 1)[1].removeprefix("lcspr"))
        assert ("partners-not-publish" in _markers(path)) == (tag >= 3), path.name
        # lcspr4: the final report's fuller equality analysis (patch equality-analysis).
        assert ("equality-analysis" in _markers(path)) == (tag >= 4), path.name
        # lcspr5: a Flowchart 4 review's consent (patch request-consent).
        assert ("request-consent" in _markers(path)) == (tag >= 5), path.name
        # lcspr6: the findings and the YJB submission (patch findings-communication).
        assert ("findings-communication" in _markers(path)) == (tag >= 6), path.name
        # lcspr7: the LCSPR's own letters (patch lcspr-letters; serious cases' reviews only).
        if tag >= 7 and "consent" not in path.stem:
            assert "lcspr-letters" in _markers(path), path.name
        elif tag < 7:
            assert "lcspr-letters" not in _markers(path), path.name
        # lcspr8: the case told of the final report's endorsement (patch family-final-report;
        # the recorder's review has no parent case, so only the marker).
        assert ("family-final-report" in _markers(path)) == (tag >= 8), path.name


def _scheduled(path: Path) -> list[str]:
    return [e.activity_task_scheduled_event_attributes.activity_type.name
            for e in load(path).events if e.HasField("activity_task_scheduled_event_attributes")]


def _local(path: Path) -> list[str]:
    return [json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)
            ["activity_type"]
            for e in load(path).events if e.HasField("marker_recorded_event_attributes")
            and e.marker_recorded_event_attributes.marker_name == "core_local_activity"]


@pytest.mark.parametrize("path", [p for p in HISTORIES if p.stem.endswith(".lcspr9")],
                         ids=lambda p: p.stem)
async def test_lcspr9_writes_its_part_by_a_local_activity(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: an LCSPR under "projection-local" writes its part of the case store by a local
    activity (its whole state no longer an input kept in the history); the histories before
    scheduled `project_part`, and code that still does does not replay lcspr9."""
    assert "projection-local" in _markers(path)
    assert "project_part" not in _scheduled(path)
    assert "project_part" in _local(path)
    replayer = Replayer(workflows=[LocalReviewWorkflow], data_converter=CONVERTER,
                        workflow_runner=UnsandboxedWorkflowRunner())
    assert (await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
            ).replay_failure is None
    without_patch(monkeypatch, "projection-local")
    assert (await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
            ).replay_failure is not None

"""Committed histories replay on today's code: a change that breaks running cases fails here.

Histories are recorded by `python -m tests.histories.record`. A change to workflow logic must
keep every one of them replaying (gate it with `workflow.patched`); never re-record to pass.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from tests.conftest import CONVERTER
from workflows.serious_incident import CaseInput, SeriousIncidentWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 3


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[SeriousIncidentWorkflow], data_converter=CONVERTER)
    result = await replayer.replay_workflow(load(path))
    assert result.replay_failure is None


@workflow.defn(name="SeriousIncident")
class ChangedWithoutPatch:
    """What an unguarded change looks like: a timer where the history has an activity."""

    @workflow.run
    async def run(self, _: CaseInput) -> None:
        await workflow.sleep(timedelta(seconds=1))


async def test_an_unpatched_change_fails_replay() -> None:
    # Unsandboxed: the sandbox would re-import this test module, which does I/O at import.
    replayer = Replayer(workflows=[ChangedWithoutPatch], data_converter=CONVERTER,
                        workflow_runner=UnsandboxedWorkflowRunner())
    result = await replayer.replay_workflow(load(HISTORIES[0]), raise_on_replay_failure=False)
    assert result.replay_failure is not None

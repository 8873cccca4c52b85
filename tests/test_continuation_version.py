"""The version a projection carries (workflows.continuation.History) increases with every
projection, even two scheduled in one workflow task: the store takes only a newer version, so
two with the same one kept whichever arrived first (a case page read the older stage)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from temporalio import workflow

from workflows.continuation import Continued, History


@dataclass
class Info:
    length: int

    def get_current_history_length(self) -> int:
        return self.length


def test_two_projections_in_one_workflow_task_get_increasing_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info = Info(length=40)
    monkeypatch.setattr(workflow, "info", lambda: info)
    history = History(Continued(history_before=1000), events_at_start=0)
    assert [history.version(), history.version()] == [1040, 1041]
    info.length = 41  # the next task: its length counts the first's scheduled events
    assert history.version() == 1042
    info.length = 60
    assert history.version() == 1060  # the history's length again once it is ahead


def test_a_continued_run_starts_above_the_last_version_of_the_run_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info = Info(length=10)
    monkeypatch.setattr(workflow, "info", lambda: info)
    first = History(Continued(), events_at_start=0)
    versions = [first.version() for _ in range(3)]
    info.length = 14
    handed_on = first.version()  # history_before of the next run
    info.length = 3
    second = History(Continued(history_before=handed_on), events_at_start=0)
    assert versions == [10, 11, 12]
    assert handed_on == 14
    assert second.version() == 17 > handed_on

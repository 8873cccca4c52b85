"""A projection the case store refuses, on the real PostgreSQL: nothing of the case in clear in
Temporal's history or the worker's log (issue 11, item 11)."""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import date

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from store.db import Sessionmaker
from tests.conftest import new_worker
from tests.factories import start_case

SUMMARY = "Unexplained bruising noticed by the nursery keyworker"


def refused_case_id() -> str:
    # 40 characters: the store's case number column takes 32, so PostgreSQL refuses the row
    # (SQLSTATE 22001) whatever else the case holds.
    return f"CSPR-2026-{uuid.uuid4().hex[:30].upper()}"


async def failed_projections(handle: WorkflowHandle[object, object]) -> list[HistoryEvent]:
    history = await handle.fetch_history()
    scheduled = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
                 for e in history.events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
    return [e for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
            and scheduled[e.activity_task_failed_event_attributes.scheduled_event_id]
            == "project_case"]


async def test_a_refused_store_write_leaves_nothing_in_clear(
    time_env: WorkflowEnvironment, sessions: Sessionmaker, caplog: pytest.LogCaptureFixture,
) -> None:
    reference = f"SECRETREF-{uuid.uuid4().hex[:8]}"
    caplog.set_level(logging.DEBUG)
    async with new_worker(time_env.client, sessions) as worker:
        now = await time_env.get_current_time()
        handle = await start_case(
            time_env.client, worker.task_queue, refused_case_id(), now,
            children=[{"reference": reference, "date_of_birth": date(2019, 3, 4)}],
            incident={"date": now.date(), "harm": "serious_harm",
                      "abuse_or_neglect": "suspected", "summary": SUMMARY})
        failed: list[HistoryEvent] = []
        for _ in range(200):
            failed = await failed_projections(handle)  # type: ignore[arg-type]
            if failed:
                break
            await time_env.sleep(1)
        assert failed, "the store never refused the projection"
        failure = failed[0].activity_task_failed_event_attributes.failure
        # Message and stack trace travel encrypted; only the error's type is readable.
        assert failure.message == "Encoded failure"
        assert failure.stack_trace == ""
        assert failure.HasField("encoded_attributes")
        assert failure.application_failure_info.type == "ProjectionRefused"
        for event in failed:
            raw = event.SerializeToString()
            assert reference.encode() not in raw
            assert SUMMARY.encode() not in raw
            assert b"INSERT" not in raw
        with contextlib.suppress(RPCError):  # (over already if the failure ended it)
            await handle.terminate("test over")
    logged = caplog.text
    assert "ProjectionRefused" in logged or "refused the case projection" in logged
    assert reference not in logged
    assert SUMMARY not in logged
    assert "INSERT INTO" not in logged

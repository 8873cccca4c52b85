"""A projection the case store refuses, on the real PostgreSQL: nothing of the case in clear in
Temporal's history or the worker's log (issue 11, item 11), and the case not held (item 8)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.case import EventKind, Stage
from store import cases
from store.db import Sessionmaker
from store.models import AuditEvent, CasePart
from tests.action_plan_stand_in import StandInActionPlan
from tests.action_plans import plan_when, runs, start_plan
from tests.action_plans import signal as plan_signal
from tests.conftest import new_worker
from tests.factories import case_when, signal, start_case
from tests.local_reviews import (
    TERMS,
    message,
    review_case_id,
    review_when,
    review_worker,
    start_review,
    store_case,
)
from workflows.projection import RETRY_AFTER

SUMMARY = "Unexplained bruising noticed by the nursery keyworker"


def refused_case_id() -> str:
    # 40 characters: the store's case number column takes 32, so PostgreSQL refuses the row
    # (SQLSTATE 22001) whatever else the case holds.
    return f"CSPR-2026-{uuid.uuid4().hex[:30].upper()}"


async def failed_projections(
    handle: WorkflowHandle[object, object],
) -> list[tuple[HistoryEvent, Failure]]:
    """The case's failed projections in its history, with their failures: an activity's
    (before patch "projection-local") or a local activity's (its marker holds the failure)."""
    history = await handle.fetch_history()
    scheduled = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
                 for e in history.events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
    found = [(e, e.activity_task_failed_event_attributes.failure) for e in history.events
             if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
             and scheduled[e.activity_task_failed_event_attributes.scheduled_event_id]
             == "project_case"]
    for e in history.events:
        marker = e.marker_recorded_event_attributes
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and \
                marker.marker_name == "core_local_activity" and marker.HasField("failure") and \
                json.loads(marker.details["data"].payloads[0].data)["activity_type"] \
                == "project_case":
            found.append((e, marker.failure))
    return found


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
        failed: list[tuple[HistoryEvent, Failure]] = []
        for _ in range(200):
            failed = await failed_projections(handle)  # type: ignore[arg-type]
            if failed:
                break
            await time_env.sleep(1)
        assert failed, "the store never refused the projection"
        failure = failed[0][1]
        # Message and stack trace travel encrypted; only the error's type is readable.
        assert failure.message == "Encoded failure"
        assert failure.stack_trace == ""
        assert failure.HasField("encoded_attributes")
        assert failure.application_failure_info.type == "ProjectionRefused"
        for event, _ in failed:
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


async def test_a_refused_projection_is_an_alert_and_the_case_goes_on(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """Issue 11, item 8: the store refuses the case's row (a check constraint on this case
    alone, added and dropped here); the case shows a `projection_failed` event, takes its next
    records, and once the store takes the row again its retry writes the whole case."""
    case_id = f"CSPR-2026-PR{uuid.uuid4().hex[:6].upper()}"
    constraint = f"refuse_{case_id.lower().replace('-', '_')}"
    async with new_worker(time_env.client, sessions) as worker:
        now = await time_env.get_current_time()
        handle = await start_case(time_env.client, worker.task_queue, case_id, now)
        await case_when(handle, lambda c: c.clock_dates != {})
        async with sessions.begin() as session:
            await session.execute(text(
                f"ALTER TABLE cases ADD CONSTRAINT {constraint} "
                f"CHECK (case_id <> '{case_id}') NOT VALID"))
        await signal(handle, "inform_partners")
        case = await case_when(handle, lambda c: any(
            e.kind is EventKind.PROJECTION_FAILED for e in c.events))
        failed = [e for e in case.events if e.kind is EventKind.PROJECTION_FAILED]
        assert len(failed) == 1
        assert "SQLSTATE 23514" in failed[0].detail
        # The case is not held: it takes the next record, and one alert stays one alert.
        await signal(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Met")
        case = await case_when(handle, lambda c: c.stage is Stage.DSP_DECISION)
        assert [e.kind for e in case.events].count(EventKind.PROJECTION_FAILED) == 1
        async with sessions() as session:
            stored = await cases.case_snapshot(session, case_id)
        assert stored is not None
        assert stored["stage"] == Stage.NOTIFIED.value  # behind, and shown to be

        async with sessions.begin() as session:
            await session.execute(text(f"ALTER TABLE cases DROP CONSTRAINT {constraint}"))
        await time_env.sleep(RETRY_AFTER.total_seconds() + 60)
        case = await case_when(handle, lambda c: any(
            e.kind is EventKind.PROJECTION_RESTORED for e in c.events))
        for _ in range(100):
            async with sessions() as session:
                stored = await cases.case_snapshot(session, case_id)
                trail = [e.kind for e in await cases.case_events(session, case_id)]
            if EventKind.PROJECTION_RESTORED.value in trail:
                break
            await asyncio.sleep(0.1)
        assert stored is not None
        assert stored["stage"] == Stage.DSP_DECISION.value
        assert EventKind.PROJECTION_FAILED.value in trail
        assert EventKind.PROJECTION_RESTORED.value in trail
        await handle.terminate("test over")


async def test_a_refused_lcspr_projection_is_an_alert_and_the_review_goes_on(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """The same for the LCSPR's part of the case store: its events that could not be written
    go with the projection that can."""
    case_id = review_case_id()
    constraint = f"refuse_{case_id.lower().replace('-', '_')}"
    now = await time_env.get_current_time()
    await store_case(sessions, case_id, now)
    async with sessions.begin() as session:
        await session.execute(text(
            f"ALTER TABLE case_parts ADD CONSTRAINT {constraint} "
            f"CHECK (case_id <> '{case_id}') NOT VALID"))
    async with review_worker(time_env.client, sessions, StandInActionPlan) as worker:
        handle = await start_review(time_env.client, worker.task_queue, case_id, None,
                                    decided_at=now)
        review = await review_when(handle, lambda r: any(
            e.kind is EventKind.PROJECTION_FAILED for e in r.events))
        assert "the case store refused the review (SQLSTATE 23514)" in next(
            e.detail for e in review.events if e.kind is EventKind.PROJECTION_FAILED)
        await handle.signal("record", message("terms_of_reference", **TERMS))
        review = await review_when(handle, lambda r: bool(r.records))  # not held
        async with sessions() as session:
            assert await session.get(CasePart, (case_id, "local_review")) is None

        async with sessions.begin() as session:
            await session.execute(text(f"ALTER TABLE case_parts DROP CONSTRAINT {constraint}"))
        await time_env.sleep(RETRY_AFTER.total_seconds() + 60)
        review = await review_when(handle, lambda r: any(
            e.kind is EventKind.PROJECTION_RESTORED for e in r.events))
        for _ in range(100):
            async with sessions() as session:
                part = await session.get(CasePart, (case_id, "local_review"))
                trail = list(await session.scalars(
                    select(AuditEvent.kind).where(AuditEvent.case_id == case_id,
                                                  AuditEvent.part == "local_review")
                    .order_by(AuditEvent.sequence)))
            if EventKind.PROJECTION_RESTORED.value in trail:
                break
            await asyncio.sleep(0.1)
        assert part is not None
        assert part.snapshot["records"]  # the terms of reference, written late
        assert len(trail) == len(review.events)  # every event once, none lost
        assert EventKind.PROJECTION_FAILED.value in trail
        await handle.terminate("test over")


async def test_a_refused_action_plan_projection_is_an_alert_and_survives_continue_as_new(
    time_env: WorkflowEnvironment, sessions: Sessionmaker, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same for the action plan's part (issue 11, item 8): the MARS team sees
    projection_failed, the plan goes on taking records, it continues as new while the store is
    behind without looping and without trimming an event the store does not have, and once the
    store takes it again projection_restored comes and the trail is whole, each event once."""
    monkeypatch.setattr("domain.trail.EVENTS_KEPT", 5)  # trims hard at continue-as-new
    case_id = review_case_id()
    constraint = f"refuse_{case_id.lower().replace('-', '_')}"
    now = await time_env.get_current_time()
    await store_case(sessions, case_id, now)
    async with sessions.begin() as session:
        await session.execute(text(
            f"ALTER TABLE case_parts ADD CONSTRAINT {constraint} "
            f"CHECK (case_id <> '{case_id}') NOT VALID"))
    async with new_worker(time_env.client, sessions) as worker:
        handle = await start_plan(time_env.client, worker.task_queue, case_id,
                                  history_per_run=100)
        first_run = handle.first_execution_run_id or handle.result_run_id
        assert first_run is not None
        plan = await plan_when(handle, lambda p: any(
            e.kind is EventKind.PROJECTION_FAILED for e in p.events))
        assert "the case store refused the action plan (SQLSTATE 23514)" in next(
            e.detail for e in plan.events if e.kind is EventKind.PROJECTION_FAILED)

        # Records are taken (not held) until the run is long enough to continue as new.
        sent = 0
        while len(await runs(time_env.client, handle.id, first_run)) < 2:
            await plan_signal(handle, "add_action", recommendation=1 + sent % 2,
                              what=f"Action {sent}", owner="North Lincolnshire Council",
                              due_date=now.date() + timedelta(weeks=40))
            sent += 1
            assert sent < 60, "the plan never continued as new"
            await asyncio.sleep(0.05)
        plan = await plan_when(handle, lambda p: len(p.actions) == sent)
        assert plan.events_before == 0  # nothing trimmed: the store has none of them
        assert [e.kind for e in plan.events].count(EventKind.PROJECTION_FAILED) == 1
        async with sessions() as session:
            assert await session.get(CasePart, (case_id, "action_plan")) is None

        async with sessions.begin() as session:
            await session.execute(text(f"ALTER TABLE case_parts DROP CONSTRAINT {constraint}"))
        await time_env.sleep(RETRY_AFTER.total_seconds() + 60)
        plan = await plan_when(handle, lambda p: any(
            e.kind is EventKind.PROJECTION_RESTORED for e in p.events))
        for _ in range(100):
            async with sessions() as session:
                part = await session.get(CasePart, (case_id, "action_plan"))
                trail = list(await session.scalars(
                    select(AuditEvent.sequence).where(AuditEvent.case_id == case_id,
                                                      AuditEvent.part == "action_plan")
                    .order_by(AuditEvent.sequence)))
            if len(trail) == plan.event_count:
                break
            await asyncio.sleep(0.1)
        assert part is not None
        assert len(part.snapshot["actions"]) == sent  # written late, none lost
        assert trail == list(range(1, plan.event_count + 1))  # every event once
        await handle.terminate("test over")

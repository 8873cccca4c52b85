"""The case store on the real database: the workflow's projection, the audit trail, migrations."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.case_store import PartProjectionInput, project, project_part
from domain.case import CaseEvent, CaseState, EventKind
from domain.decisions import Actor, Decision
from domain.procedure import Step
from store.db import Sessionmaker
from store.models import AuditEvent, Case, CasePart, CaseStep, Child
from tests.database import alembic_config
from tests.factories import CHILD_REFERENCE, record, start_case
from workflows.serious_incident import SeriousIncidentWorkflow

Handle = WorkflowHandle[SeriousIncidentWorkflow, Any]
MARS = Actor(subject="mars-1", role="mars_team")


def case_id() -> str:
    return f"CSPR-2026-{uuid.uuid4().hex[:8].upper()}"


async def update(handle: Handle, step: str, actor: Actor | None = MARS, **fields: Any) -> CaseState:
    state: CaseState = await handle.execute_update(
        "record", Decision(record=record(step, **fields), actor=actor), result_type=CaseState)
    return state


async def stored(sessions: Sessionmaker, cid: str) -> Case | None:
    async with sessions() as s:
        return await s.get(Case, cid)


async def audit(sessions: Sessionmaker, cid: str) -> list[AuditEvent]:
    async with sessions() as s:
        return list(await s.scalars(
            select(AuditEvent).where(AuditEvent.case_id == cid).order_by(AuditEvent.sequence)))


async def test_each_decision_is_in_the_store_when_the_update_returns(
    dev_env: WorkflowEnvironment, dev_worker: Worker, sessions: Sessionmaker
) -> None:
    cid = case_id()
    handle = await start_case(dev_env.client, dev_worker.task_queue, cid, datetime.now(UTC))
    opened: CaseState = await handle.execute_update("opened", result_type=CaseState)
    row = await stored(sessions, cid)
    assert row is not None
    assert row.stage == "notified"
    assert row.version > 0

    state = await update(handle, "inform_partners")
    row = await stored(sessions, cid)  # no waiting: read your writes
    assert row is not None
    assert row.stage == "ssl_recommendation"
    assert row.snapshot["stage"] == "ssl_recommendation"
    assert CaseState.model_validate(row.snapshot).step(Step.INFORM_PARTNERS).status.value == "done"

    dsp = Actor(subject="dsp-police-1", role="dsp", organisation="police")
    await update(handle, "ssl_recommendation", actor=Actor(subject="ssl-1", role="ssl",
                 organisation="health"), criteria_met=True, recommend_panel_notification=True,
                 rationale="Met")
    state = await update(handle, "dsp_decision", actor=dsp, partner="police",
                         criteria_met=True, rationale="Met")

    events = await audit(sessions, cid)
    assert [e.sequence for e in events] == list(range(1, len(state.events) + 1))
    assert [e.kind for e in events] == [e.kind.value for e in state.events]
    decision = next(e for e in events if e.step == "dsp_decision")
    assert (decision.channel, decision.actor_subject, decision.actor_role,
            decision.actor_organisation) == ("api", "dsp-police-1", "dsp", "police")
    assert {e.channel for e in events if e.kind == "stage"} == {"api"}

    async with sessions() as s:
        steps = {r.step: r for r in await s.scalars(
            select(CaseStep).where(CaseStep.case_id == cid))}
        children = list(await s.scalars(select(Child).where(Child.case_id == cid)))
    assert steps["inform_partners"].status == "done"
    assert steps["panel_notification"].statutory
    assert steps["panel_notification"].due_date == opened.step(Step.PANEL_NOTIFICATION).due_date
    assert [c.reference for c in children] == [CHILD_REFERENCE]
    await handle.terminate("test over")


async def test_the_audit_trail_starts_with_who_made_the_notification(
    dev_env: WorkflowEnvironment, dev_worker: Worker, sessions: Sessionmaker
) -> None:
    notifier = Actor(subject="mars-notifier-1@cspr.test", role="mars_team")
    by_api, direct = case_id(), case_id()
    # Children of their own: a case for another test's child would be flagged a duplicate.
    h1 = await start_case(dev_env.client, dev_worker.task_queue, by_api, datetime.now(UTC),
                          actor=notifier, children=[{"reference": f"N-{uuid.uuid4().hex[:8]}"}])
    h2 = await start_case(dev_env.client, dev_worker.task_queue, direct, datetime.now(UTC),
                          children=[{"reference": f"N-{uuid.uuid4().hex[:8]}"}])
    for h in (h1, h2):
        await h.execute_update("opened", result_type=CaseState)
    await update(h1, "inform_partners")

    def row(e: AuditEvent) -> tuple[object, ...]:
        return (e.sequence, e.kind, e.step, e.channel, e.actor_subject, e.actor_role,
                e.actor_organisation)

    events = await audit(sessions, by_api)
    assert row(events[0]) == (1, "notified", None, "api", "mars-notifier-1@cspr.test",
                              "mars_team", None)
    assert [e.kind for e in events] == ["notified", "recorded", "stage"]
    # A case started on Temporal directly names no notifier: the system opened it.
    [opened] = await audit(sessions, direct)
    assert row(opened) == (1, "notified", None, "system", None, None, None)
    for h in (h1, h2):
        await h.terminate("test over")


async def test_projection_is_idempotent_and_never_goes_back(
    dev_env: WorkflowEnvironment, dev_worker: Worker, sessions: Sessionmaker
) -> None:
    cid = case_id()
    handle = await start_case(dev_env.client, dev_worker.task_queue, cid, datetime.now(UTC))
    before: CaseState = await handle.execute_update("opened", result_type=CaseState)
    after = await update(handle, "inform_partners")
    row = await stored(sessions, cid)
    assert row is not None
    version, count = row.version, len(await audit(sessions, cid))

    # A retried activity with the same input, and a stale one arriving late: nothing changes.
    for state, at in ((after, version), (before, version - 1)):
        async with sessions.begin() as s:
            await project(s, state, at)
    row = await stored(sessions, cid)
    assert row is not None
    assert (row.version, row.stage) == (version, "ssl_recommendation")
    assert len(await audit(sessions, cid)) == count
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Child)
                              .where(Child.case_id == cid)) == 1
    await handle.terminate("test over")


async def test_a_second_notification_for_the_same_child_and_incident_is_flagged(
    dev_env: WorkflowEnvironment, dev_worker: Worker, sessions: Sessionmaker
) -> None:
    first, second, other = case_id(), case_id(), case_id()
    now = datetime.now(UTC)
    children = [{"reference": f"DUP-{uuid.uuid4().hex[:8]}"}]
    h1 = await start_case(dev_env.client, dev_worker.task_queue, first, now, children=children)
    await h1.execute_update("opened", result_type=CaseState)
    h2 = await start_case(dev_env.client, dev_worker.task_queue, second, now,
                          children=[{"reference": "ANOTHER-1"}, *children])
    case: CaseState = await h2.execute_update("opened", result_type=CaseState)
    flagged = [e for e in case.events if e.kind is EventKind.POSSIBLE_DUPLICATE]
    assert [e.detail for e in flagged] == [first]
    row = await stored(sessions, second)
    assert row is not None
    assert row.possible_duplicate_of == [first]
    assert "possible_duplicate" in [e.kind for e in await audit(sessions, second)]

    # A different incident date for the same child is not a duplicate.
    h3 = await start_case(dev_env.client, dev_worker.task_queue, other, now - timedelta(days=40),
                          children=children)
    case = await h3.execute_update("opened", result_type=CaseState)
    assert EventKind.POSSIBLE_DUPLICATE not in [e.kind for e in case.events]
    for h in (h1, h2, h3):
        await h.terminate("test over")


async def test_migrations_match_the_models(sessions: Sessionmaker) -> None:
    """`alembic check` on the migrated schema: no model change is missing a migration."""
    def check(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.check(config)

    engine = sessions.kw["bind"]
    async with engine.connect() as conn:
        await conn.run_sync(check)


async def test_a_child_workflow_projects_its_part_once_and_forward_only(
    dev_env: WorkflowEnvironment, dev_worker: Worker, sessions: Sessionmaker
) -> None:
    cid = case_id()
    handle = await start_case(dev_env.client, dev_worker.task_queue, cid, datetime.now(UTC),
                              children=[{"reference": f"PART-{uuid.uuid4().hex[:8]}"}])
    await handle.execute_update("opened", result_type=CaseState)
    now = datetime.now(UTC)
    events = [CaseEvent(at=now, kind=EventKind.STAGE, detail="terms_of_reference"),
              CaseEvent(at=now, kind=EventKind.STAGE, detail="supervision")]

    def part(version: int, stage: str, n: int) -> PartProjectionInput:
        return PartProjectionInput(case_id=cid, part="local_review", version=version,
                                   stage=stage, overdue=False, next_deadline=None,
                                   snapshot={"stage": stage}, events=events[:n])

    for projection in (part(5, "terms_of_reference", 1), part(9, "supervision", 2),
                       part(9, "supervision", 2), part(7, "terms_of_reference", 1)):
        async with sessions.begin() as s:
            await project_part(s, projection)
    async with sessions() as s:
        row = await s.get(CasePart, (cid, "local_review"))
        trail = list(await s.scalars(select(AuditEvent).where(
            AuditEvent.case_id == cid, AuditEvent.part == "local_review")))
    assert row is not None
    assert (row.version, row.stage, row.snapshot) == (9, "supervision", {"stage": "supervision"})
    assert sorted(e.sequence for e in trail) == [1, 2]
    await handle.terminate("test over")


async def test_two_first_projections_of_a_part_at_once_both_succeed(
    dev_env: WorkflowEnvironment, dev_worker: Worker, sessions: Sessionmaker
) -> None:
    cid = case_id()
    handle = await start_case(dev_env.client, dev_worker.task_queue, cid, datetime.now(UTC),
                              children=[{"reference": f"RACE-{uuid.uuid4().hex[:8]}"}])
    await handle.execute_update("opened", result_type=CaseState)

    async def first(version: int) -> None:
        async with sessions.begin() as s:
            await project_part(s, PartProjectionInput(
                case_id=cid, part="action_plan", version=version, stage=f"v{version}",
                overdue=False, next_deadline=None, snapshot={}, events=[]))

    await asyncio.gather(first(3), first(4))
    async with sessions() as s:
        row = await s.get(CasePart, (cid, "action_plan"))
    assert row is not None
    assert (row.version, row.stage) == (4, "v4")
    await handle.terminate("test over")

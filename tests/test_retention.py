"""Retention: the schedule in settings, the anonymisation of a closed case's records once past
their time (a dry run first), audited and done once, keeping what the statistics need; and the
daily Temporal Schedule that runs it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.schema import CreateTable
from temporalio.client import ScheduleActionExecutionStartWorkflow, ScheduleCalendarSpec
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.retention import RetentionReport, run_retention
from domain.case import CaseState
from domain.procedure import CURRENT_PROCEDURE
from domain.retention import DEFAULT_SCHEDULE, RecordKind, RetentionSchedule
from infra.cli import run
from infra.schedules import RETENTION_SCHEDULE_ID, ensure_retention_schedule
from infra.settings import Settings
from store import retention
from store.db import Sessionmaker
from store.models import (
    AuditEvent,
    Base,
    Case,
    CaseDocument,
    CaseStep,
    Child,
    IdempotencyRecord,
    OutboxMessage,
)
from tests.conftest import TEST_KEYS
from tests.factories import CHILD_REFERENCE, notification

SUMMARY = "Admitted to hospital with unexplained injuries."


async def closed_case(sessions: Sessionmaker, closed: datetime) -> str:
    """A case closed at `closed`, with a child, a step, a document, an e-mail and its trail."""
    cid = f"CSPR-2018-{uuid.uuid4().hex[:8].upper()}"
    state = CaseState.open_case(cid, CURRENT_PROCEDURE, notification(datetime.now(UTC)))
    snapshot = state.model_dump(mode="json")
    assert CHILD_REFERENCE in json.dumps(snapshot)
    assert SUMMARY in json.dumps(snapshot)
    async with sessions.begin() as session:
        session.add(Case(case_id=cid, kind="serious_incident", procedure_version="test",
                         stage="closed", outcome="no_further_review", overdue=False,
                         received_at=closed - timedelta(days=90), version=9, snapshot=snapshot,
                         updated_at=closed, possible_duplicate_of=[]))
        await session.flush()
        session.add_all([
            Child(case_id=cid, position=0, reference=CHILD_REFERENCE,
                  date_of_birth=date(2015, 1, 2), looked_after=True),
            CaseStep(case_id=cid, step="panel_notification", statutory=True, status="done",
                     due_date=date(2018, 3, 1), completed_on=date(2018, 2, 27)),
            CaseDocument(case_id=cid, key="doc2/health", kind="doc2", filename="doc2.docx",
                         content=f"letter about {CHILD_REFERENCE}".encode(), created_at=closed),
            OutboxMessage(key=f"{cid}/1", case_id=cid, purpose="letters", to_address="a@b.cd",
                          subject=f"{cid}: Doc 2", body=f"About {CHILD_REFERENCE}",
                          message_id=f"<{cid}@t>", status="sent", attempts=1,
                          created_at=closed),
            AuditEvent(case_id=cid, sequence=1, at=closed, kind="recorded", step="dsp_decision",
                       detail="criteria met", channel="api", actor_subject="dsp@police.test",
                       actor_role="dsp"),
        ])
    return cid


async def cleanup(sessions: Sessionmaker, *case_ids: str) -> None:
    async with sessions.begin() as session:
        for model in (OutboxMessage, CaseDocument, AuditEvent, CaseStep, Child, Case):
            await session.execute(delete(model).where(model.case_id.in_(case_ids)))


def test_the_schedule_keeps_every_record_at_least_a_year_after_closing() -> None:
    with pytest.raises(ValueError, match="published for at least"):
        RetentionSchedule(case_record_days=364, documents_days=400, email_bodies_days=400,
                          audit_days=400, idempotency_days=1)
    with pytest.raises(ValueError, match="retention_documents_days"):
        Settings(encryption_keys=TEST_KEYS, retention_documents_days=100)
    settings = Settings(encryption_keys=TEST_KEYS, retention_email_bodies_days=400)
    assert settings.retention.due(RecordKind.EMAIL_BODIES, date(2026, 1, 1)) == date(2027, 2, 5)
    assert settings.retention.days(RecordKind.CASE_RECORD) == DEFAULT_SCHEDULE.case_record_days


async def test_a_case_past_its_time_is_anonymised_once_after_a_dry_run(
    sessions: Sessionmaker,
) -> None:
    now = datetime.now(UTC)
    old = await closed_case(sessions, now - timedelta(days=8 * 365))
    recent = await closed_case(sessions, now - timedelta(days=30))
    # Only the e-mail bodies are past their time for a case closed 18 months ago... none here.
    middle = await closed_case(sessions, now - timedelta(days=800))
    async with sessions.begin() as session:
        session.add(IdempotencyRecord(key=f"k-{old}", subject="s", method_path="POST /x",
                                      request_hash="h", status_code=201,
                                      response={"child": CHILD_REFERENCE},
                                      created_at=now - timedelta(days=31)))
    try:
        dry = await run_retention(sessions, DEFAULT_SCHEDULE, now, dry_run=True)
        mine = [a for a in dry.actions if a.split()[0] in (old, recent, middle)]
        assert sorted(a.split()[:2] for a in mine) == sorted(
            [[old, k.value] for k in RecordKind] + [[middle, "email_bodies"]])
        assert dry.idempotency_records >= 1
        async with sessions() as session:  # the dry run changed nothing
            child = await session.scalar(select(Child).where(Child.case_id == old))
            assert child is not None
            assert child.reference == CHILD_REFERENCE

        done = await run_retention(sessions, DEFAULT_SCHEDULE, now, dry_run=False)
        assert set(done.actions) >= set(mine)
        async with sessions() as session:
            case = await session.get(Case, old)
            assert case is not None
            text = json.dumps(case.snapshot)
            assert CHILD_REFERENCE not in text
            assert SUMMARY not in text
            assert "2015-01-02" not in text
            # What the Board's statistics need stays.
            assert (case.kind, case.stage, case.outcome) == ("serious_incident", "closed",
                                                            "no_further_review")
            assert case.snapshot["notification"]["incident"]["harm"] == "serious_harm"
            child = await session.scalar(select(Child).where(Child.case_id == old))
            assert child is not None
            assert (child.reference, child.date_of_birth, child.looked_after) == (
                "erased", None, True)
            step = await session.scalar(select(CaseStep).where(CaseStep.case_id == old))
            assert step is not None
            assert step.completed_on == date(2018, 2, 27)
            doc = await session.scalar(select(CaseDocument).where(CaseDocument.case_id == old))
            assert doc is not None
            assert doc.content == b""
            assert doc.kind == "doc2"
            mail = await session.scalar(select(OutboxMessage)
                                        .where(OutboxMessage.case_id == old))
            assert mail is not None
            assert CHILD_REFERENCE not in mail.body
            assert mail.status == "sent"
            trail = list(await session.scalars(select(AuditEvent).where(
                AuditEvent.case_id == old).order_by(AuditEvent.part, AuditEvent.sequence)))
            recorded = next(e for e in trail if e.part == "case")
            assert (recorded.kind, recorded.actor_role, recorded.actor_subject,
                    recorded.detail) == ("recorded", "dsp", None, "erased")
            assert sorted(e.kind for e in trail if e.part == retention.PART) == sorted(
                f"anonymised_{k.value}" for k in RecordKind)
            # The recent case keeps everything; the middle one only lost its e-mail bodies.
            kept = await session.scalar(select(Child).where(Child.case_id == recent))
            assert kept is not None
            assert kept.reference == CHILD_REFERENCE
            middle_mail = await session.scalar(select(OutboxMessage)
                                               .where(OutboxMessage.case_id == middle))
            assert middle_mail is not None
            assert CHILD_REFERENCE not in middle_mail.body
            assert await session.scalar(select(IdempotencyRecord).where(
                IdempotencyRecord.key == f"k-{old}")) is None
        again = await run_retention(sessions, DEFAULT_SCHEDULE, now, dry_run=True)
        assert not [a for a in again.actions if a.split()[0] in (old, middle)]
    finally:
        await cleanup(sessions, old, recent, middle)


async def test_the_daily_schedule_runs_the_job_on_the_worker(
    dev_env: WorkflowEnvironment, dev_worker: Worker,
) -> None:
    client = dev_env.client
    assert await ensure_retention_schedule(client, dev_worker.task_queue) is True
    try:
        assert await ensure_retention_schedule(client, dev_worker.task_queue) is False
        handle = client.get_schedule_handle(RETENTION_SCHEDULE_ID)
        described = await handle.describe()
        (calendar,) = described.schedule.spec.calendars
        assert isinstance(calendar, ScheduleCalendarSpec)
        assert (calendar.hour[0].start, calendar.minute[0].start) == (2, 30)
        assert described.schedule.spec.time_zone_name == "Europe/London"
        await handle.trigger()
        for _ in range(100):
            described = await handle.describe()
            if described.info.recent_actions:
                break
            await asyncio.sleep(0.1)
        started = described.info.recent_actions[-1].action
        assert isinstance(started, ScheduleActionExecutionStartWorkflow)
        run = client.get_workflow_handle(started.workflow_id, result_type=RetentionReport,
                                         run_id=started.first_execution_run_id)
        report = await run.result()
        assert isinstance(report, RetentionReport)
        assert report.dry_run is False
    finally:
        await client.get_schedule_handle(RETENTION_SCHEDULE_ID).delete()


def test_cspr_retention_lists_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = tmp_path / "cspr.db"
    with sqlite3.connect(store) as db:  # an empty store of the right shape
        for statement in Base.metadata.sorted_tables:
            db.execute(str(CreateTable(statement).compile(dialect=sqlite_dialect())))
    monkeypatch.setenv("CSPR_ENCRYPTION_KEYS", TEST_KEYS)
    env = {"CSPR_DATABASE_URL": f"sqlite+aiosqlite:///{store}"}
    assert run(["retention", "--dry-run"], env) == 0
    assert "0 record(s) of closed cases" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        run(["retention"], env)  # never without --dry-run

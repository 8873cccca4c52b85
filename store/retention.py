"""Anonymising closed cases' records in the case store, by the retention schedule or on request.

Each anonymisation is written to the case's audit trail (part "retention": what was done, how
many rows, never their content), and is done once: a record kind already anonymised is not
planned again. A case counts as closed from its last write (its own or its parts').
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.action_plan import ActionPlanState
from domain.calendar import london_date
from domain.case import CaseState
from domain.local_review import LocalReviewState
from domain.retention import ERASED, RecordKind, RetentionSchedule, anonymise
from store.models import (
    AuditEvent,
    Case,
    CaseDocument,
    CasePart,
    Child,
    IdempotencyRecord,
    OutboxMessage,
)

log = logging.getLogger("cspr.retention")
PART = "retention"  # the audit trail's part for what retention did
_PARTS: dict[str, type[BaseModel]] = {"local_review": LocalReviewState,
                                      "action_plan": ActionPlanState}


@dataclass(frozen=True)
class Action:
    """One kind of record of one case to anonymise, due since `due`."""

    case_id: str
    record: RecordKind
    due: date


def _kind(record: RecordKind) -> str:
    return f"anonymised_{record.value}"


async def closed_on(session: AsyncSession) -> dict[str, date]:
    """Each closed case's closing day: its own or its parts' last write, whichever is later."""
    rows = await session.execute(
        select(Case.case_id, Case.updated_at, func.max(CasePart.updated_at))
        .outerjoin(CasePart, CasePart.case_id == Case.case_id)
        .where(Case.stage == "closed").group_by(Case.case_id, Case.updated_at))
    return {case_id: london_date(_aware(max(t for t in (own, parts) if t is not None)))
            for case_id, own, parts in rows}


async def done(session: AsyncSession, case_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(case, audit kind) of what retention already did to these cases."""
    if not case_ids:
        return set()
    rows = await session.execute(
        select(AuditEvent.case_id, AuditEvent.kind)
        .where(AuditEvent.part == PART, AuditEvent.case_id.in_(case_ids)))
    return {(case_id, kind) for case_id, kind in rows}


async def plan(session: AsyncSession, schedule: RetentionSchedule, today: date) -> list[Action]:
    """What has passed its time and is not yet anonymised, oldest first."""
    closed = await closed_on(session)
    already = await done(session, list(closed))
    actions = [Action(case_id, record, schedule.due(record, day))
               for case_id, day in closed.items() for record in RecordKind
               if schedule.due(record, day) <= today
               and (case_id, _kind(record)) not in already
               and (case_id, "erased") not in already]
    return sorted(actions, key=lambda a: (a.due, a.case_id, a.record.value))


async def apply(session: AsyncSession, action: Action, why: str) -> int:
    """Anonymise one kind of record of one case; returns the rows changed. Audited."""
    case_id = action.case_id
    if action.record is RecordKind.CASE_RECORD:
        changed = await _case_record(session, case_id)
    elif action.record is RecordKind.DOCUMENTS:
        changed = _rows(await session.execute(
            update(CaseDocument).where(CaseDocument.case_id == case_id)
            .values(content=b"")))
    elif action.record is RecordKind.EMAIL_BODIES:
        changed = _rows(await session.execute(
            update(OutboxMessage).where(OutboxMessage.case_id == case_id)
            .values(body=ERASED, subject=f"{case_id}: {ERASED}")))
    else:
        changed = _rows(await session.execute(
            update(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.part != PART)
            .values(detail=ERASED, actor_subject=None)))
    await audit(session, case_id, _kind(action.record), f"{why}: {changed} row(s)")
    return int(changed or 0)


async def erase(session: AsyncSession, case_id: str, reason: str,
                actor_role: str | None = None) -> dict[str, int]:
    """Every kind of record of one case anonymised now (erasure on request), with the
    reason in the audit trail."""
    changed = {record.value: await apply(session, Action(case_id, record, date.today()),
                                         "on request")
               for record in RecordKind}
    await audit(session, case_id, "erased", reason, actor_role)
    return changed


async def audit(session: AsyncSession, case_id: str, kind: str, detail: str,
                actor_role: str | None = None, part: str = PART) -> None:
    """An entry in the case's trail, numbered on in its part (retention, access)."""
    last = await session.scalar(select(func.max(AuditEvent.sequence)).where(
        AuditEvent.case_id == case_id, AuditEvent.part == part)) or 0
    session.add(AuditEvent(case_id=case_id, part=part, sequence=last + 1,
                           at=datetime.now(UTC), kind=kind, detail=detail, channel="system",
                           actor_role=actor_role))
    await session.flush()


async def forget_idempotency(session: AsyncSession, schedule: RetentionSchedule,
                             now: datetime, dry_run: bool) -> int:
    """Idempotency records past their days: the answers they keep quote the cases."""
    older = IdempotencyRecord.created_at < now - timedelta(days=schedule.idempotency_days)
    if dry_run:
        return await session.scalar(
            select(func.count()).select_from(IdempotencyRecord).where(older)) or 0
    return _rows(await session.execute(delete(IdempotencyRecord).where(older)))


async def _case_record(session: AsyncSession, case_id: str) -> int:
    changed = _rows(await session.execute(
        update(Child).where(Child.case_id == case_id)
        .values(reference=ERASED, date_of_birth=None)))
    case = await session.get(Case, case_id, with_for_update=True)
    if case is not None:
        case.snapshot = _anonymised(case.snapshot, CaseState)
        changed += 1
    for part in await session.scalars(select(CasePart).where(CasePart.case_id == case_id)):
        if (model := _PARTS.get(part.part)) is not None:
            part.snapshot = _anonymised(part.snapshot, model)
            changed += 1
    return int(changed)


def _anonymised(snapshot: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    try:
        state = model.model_validate(snapshot)
    except ValidationError:
        # A snapshot of an older shape: nothing of it is kept (the row's columns and the
        # steps keep what the statistics need).
        log.warning("snapshot of an unknown shape (%s): replaced", model.__name__)
        return {"anonymised": True}
    return anonymise(state).model_dump(mode="json")


def _rows(result: Any) -> int:
    """The rows an UPDATE or DELETE changed."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)

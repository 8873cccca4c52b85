"""The family told of a decision once a case has closed (issue 9, Families).

A running case's record is its workflow's: the family's record goes to the case by an Update.
Once the workflow has ended (the case closed, its last projection written) the stored copy is
the case's record and no projection will follow, so a decision still owed to the family (the
partners' "criteria not met" closes the case at once) is recorded here: in the case's stored
state (`families`), and as a line of its audit trail numbered on after the last.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.case import CaseState, EventKind
from domain.decisions import Actor
from domain.families import FamilyCommunication
from domain.retention import ERASED
from store.models import AuditEvent, Case, Child

PART = "case"


class NotRecordable(Exception):
    """The stored case cannot take the record: the reason says why (no personal data)."""


async def record_after_close(session: AsyncSession, case_id: str,
                             record: FamilyCommunication, actor: Actor,
                             now: datetime) -> CaseState:
    """Record the family told of a decision on a closed case whose workflow has ended; the
    case as stored afterwards. LookupError if there is no such case; the domain's StepNotOpen
    or InvalidFamilyRecord if the record cannot be taken; NotRecordable if the stored copy is
    anonymised."""
    row = await session.get(Case, case_id, with_for_update=True)
    if row is None:
        raise LookupError(case_id)
    erased = await session.scalar(select(func.count()).select_from(Child).where(
        Child.case_id == case_id, Child.reference == ERASED))
    try:
        case = CaseState.model_validate(row.snapshot)
    except ValidationError:
        erased = 1  # an older shape, replaced by the retention schedule
    if erased:
        raise NotRecordable("the case's record has been anonymised (retention or erasure): "
                            "nothing more is added to it")
    case.record_family_after_close(record, now, actor)
    event = case.events[-1]
    assert event.kind is EventKind.FAMILY_COMMUNICATION
    last = await session.scalar(select(func.max(AuditEvent.sequence)).where(
        AuditEvent.case_id == case_id, AuditEvent.part == PART)) or 0
    session.add(AuditEvent(
        case_id=case_id, part=PART, sequence=last + 1, at=event.at, kind=event.kind.value,
        step=None, detail=event.detail, channel=event.channel.value,
        actor_subject=actor.subject, actor_role=actor.role,
        actor_organisation=actor.organisation))
    row.snapshot = case.model_dump(mode="json")
    row.updated_at = now
    await session.flush()
    return case

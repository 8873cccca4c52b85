"""Meetings booked for a case (the rapid review meeting, an LCSPR panel meeting), for the
workspace's calendar feeds. Plain functions that take a session; the caller commits. The
audit trail says who booked or cancelled which meeting (part `meetings`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import AuditEvent, Case, Meeting
from store.tenancy import DEFAULT, in_partnership

PART = "meetings"


async def _audit(session: AsyncSession, case_id: str, at: datetime, kind: str, detail: str,
                 actor: tuple[str, str, str | None]) -> None:
    last = await session.scalar(select(func.max(AuditEvent.sequence)).where(
        AuditEvent.case_id == case_id, AuditEvent.part == PART))
    subject, role, organisation = actor
    session.add(AuditEvent(
        case_id=case_id, part=PART, sequence=(last or 0) + 1, at=at, kind=kind, step=None,
        detail=detail, channel="web", actor_subject=subject, actor_role=role,
        actor_organisation=organisation))


async def book(session: AsyncSession, case_id: str, kind: str, starts_at: datetime,
               ends_at: datetime, place: str, actor: tuple[str, str, str | None],
               now: datetime) -> Meeting:
    meeting = Meeting(case_id=case_id, kind=kind, starts_at=starts_at, ends_at=ends_at,
                      place=place, booked_by=actor[0], booked_at=now)
    session.add(meeting)
    await session.flush()
    await _audit(session, case_id, now, "meeting_booked",
                 f"{kind} {meeting.id} booked for {starts_at.isoformat()}", actor)
    return meeting


async def cancel(session: AsyncSession, case_id: str, meeting_id: int,
                 actor: tuple[str, str, str | None], now: datetime) -> bool:
    """False if the case has no such meeting."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None or meeting.case_id != case_id:
        return False
    await session.delete(meeting)
    await _audit(session, case_id, now, "meeting_cancelled",
                 f"{meeting.kind} {meeting.id} of {meeting.starts_at.isoformat()} cancelled",
                 actor)
    return True


async def of_case(session: AsyncSession, case_id: str) -> Sequence[Meeting]:
    rows = await session.scalars(select(Meeting).where(Meeting.case_id == case_id)
                                 .order_by(Meeting.starts_at, Meeting.id))
    return rows.all()


async def upcoming(session: AsyncSession, since: datetime,
                   only: Sequence[str] | None = None, partnership: str = DEFAULT
                   ) -> Sequence[Meeting]:
    """Meetings from `since` on, of `partnership`'s cases not closed (`only`: of these)."""
    query = (select(Meeting).join(Case, Case.case_id == Meeting.case_id)
             .where(Meeting.ends_at >= since, Case.stage != "closed",
                    in_partnership(Case.case_id, partnership)))
    if only is not None:
        query = query.where(Meeting.case_id.in_(only))
    rows = await session.scalars(query.order_by(Meeting.starts_at, Meeting.id))
    return rows.all()

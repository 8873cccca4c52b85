"""Operators' changes to the working-day calendar: bank holidays added (announced after the
`holidays` release, as in 2022 and 2023) or removed, and withdrawn again.

Plain functions that take a session; the caller commits. One row per day (`calendar_changes`):
a day is either the standard calendar's or changed once. The effective calendar is the base
one with these changes on top (`effective_calendar`); workflows get it only through the
calendar activity, so a change never alters a recorded history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import extract, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.calendar import CalendarChangeKind, WorkingDayCalendar, england_bank_holidays
from store.models import AuditEvent, CalendarChange, Case, CasePart

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class CalendarError(Exception):
    """A change the calendar refuses."""


class Refused(CalendarError):
    """The change makes no sense for that day (a weekend, already a bank holiday, ...)."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class AlreadyChanged(CalendarError):
    """The day already carries an operator's change: withdraw it first."""

    def __init__(self, existing: CalendarChange):
        super().__init__(f"day: {existing.day} was already {existing.change} by "
                         f"{existing.made_by} at {existing.made_at.isoformat()}; withdraw "
                         "that change first")
        self.existing = existing


class NoChange(CalendarError):
    """There is no operator's change of that day to withdraw."""

    def __init__(self, day: date):
        super().__init__(f"no change of the calendar on {day}")
        self.day = day


async def changes(session: AsyncSession, year: int | None = None) -> Sequence[CalendarChange]:
    """Every operator's change (of one year), by day."""
    query = select(CalendarChange).order_by(CalendarChange.day)
    if year is not None:
        query = query.where(extract("year", CalendarChange.day) == year)
    return (await session.scalars(query)).all()


async def effective_calendar(session: AsyncSession, base: WorkingDayCalendar
                             ) -> WorkingDayCalendar:
    """`base` with every operator's change on top: the calendar due dates are counted on."""
    rows = await session.execute(select(CalendarChange.day, CalendarChange.change))
    added: list[date] = []
    removed: list[date] = []
    for day, change in rows:
        (added if change == CalendarChangeKind.ADDED else removed).append(day)
    return base.with_changes(added, removed)


async def add_holiday(session: AsyncSession, day: date, name: str, made_by: str,
                      now: datetime) -> CalendarChange:
    """Make `day` a bank holiday (footnote 18: then not a working day)."""
    if day.weekday() >= 5:
        raise Refused("day", f"is a {_WEEKDAYS[day.weekday()]}: never a working day")
    standard = england_bank_holidays(day.year).get(day)
    if standard is not None:
        raise Refused("day", f"is already a bank holiday in England ({standard})")
    return await _insert(session, CalendarChange(
        day=day, change=CalendarChangeKind.ADDED.value, name=name, made_by=made_by,
        made_at=now))


async def remove_holiday(session: AsyncSession, day: date, reason: str, made_by: str,
                         now: datetime) -> CalendarChange:
    """Make a standard bank holiday a working day again; `reason` is kept as the row's name."""
    if day not in england_bank_holidays(day.year):
        raise Refused("day", "is not a standard bank holiday in England (a day an operator "
                             "added is withdrawn instead)")
    if day.weekday() >= 5:
        raise Refused("day", f"is a {_WEEKDAYS[day.weekday()]}: never a working day")
    return await _insert(session, CalendarChange(
        day=day, change=CalendarChangeKind.REMOVED.value, name=reason, made_by=made_by,
        made_at=now))


async def withdraw(session: AsyncSession, day: date) -> CalendarChange:
    """Take back the change of `day`: the standard calendar holds for it again."""
    existing = await session.get(CalendarChange, day, with_for_update=True)
    if existing is None:
        raise NoChange(day)
    await session.delete(existing)
    await session.flush()
    return existing


async def _insert(session: AsyncSession, change: CalendarChange) -> CalendarChange:
    existing = await session.get(CalendarChange, change.day)
    if existing is not None:
        raise AlreadyChanged(existing)
    try:
        async with session.begin_nested():
            session.add(change)
            await session.flush()
    except IntegrityError:
        # Another operator changed the same day at the same moment: theirs stands.
        existing = await session.get(CalendarChange, change.day, populate_existing=True)
        if existing is None:
            raise
        raise AlreadyChanged(existing) from None
    return change


# The last stages of each part: a part there has no deadline left to move.
_PART_ENDS = {"local_review": ("completed", "withdrawn"),
              "action_plan": ("signed_off", "withdrawn")}
CASE = "case"  # the case's own workflow, in `open_parts`


async def open_parts(session: AsyncSession) -> list[tuple[str, str]]:
    """The (case id, part) of each workflow with deadlines still running, as the case store
    last saw them, part "case" for the case's own: every case not closed, and every LCSPR and
    action plan not finished (an action plan goes on by itself after its LCSPR, so its case's
    stage does not decide). The caller knows which workflow runs each part."""
    found = [(case_id, CASE) for case_id in await session.scalars(
        select(Case.case_id).where(Case.stage != "closed").order_by(Case.case_id))]
    parts = await session.execute(
        select(CasePart.case_id, CasePart.part, CasePart.stage).order_by(CasePart.case_id))
    for case_id, part, stage in parts:
        ends = _PART_ENDS.get(part)
        if ends is not None and stage not in ends:
            found.append((case_id, part))
    return found


async def moves(session: AsyncSession, day: date, limit: int = 500) -> Sequence[AuditEvent]:
    """The due dates a change of this day moved: each open workflow's `deadline_moved` events
    written as it counted again (their detail names the change: "calendar: <day> added"),
    newest first."""
    rows = await session.scalars(
        select(AuditEvent).where(AuditEvent.kind == "deadline_moved",
                                 AuditEvent.detail.contains(f"calendar: {day.isoformat()} "))
        .order_by(AuditEvent.at.desc(), AuditEvent.case_id, AuditEvent.sequence).limit(limit))
    return rows.all()

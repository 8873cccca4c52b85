"""The working-day calendar (footnote 18: not a weekend or a bank holiday in England), for
partner systems and for checking a due date; and the bank holidays operations add or remove
when one is announced after a case started (as in 2022 and 2023)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.calendar_signals import tell_open_workflows
from api.deps import Session, Sessions, TemporalClient, requires
from api.errors import ApiError, FieldError, Problem, invalid, store_errors
from api.idempotency import IdempotencyKey, once
from api.schemas import WorkingDay
from domain.calendar import (
    CalendarChanged,
    CalendarChangeKind,
    WorkingDayCalendar,
    england_bank_holidays,
    london_date,
)
from domain.notification import Name
from domain.permissions import (
    CALENDAR_CHANGE_ROLES,
    CALENDAR_CHANGES_READ_ROLES,
    CALENDAR_ROLES,
    can_change_calendar,
    can_read_calendar_changes,
    can_use_calendar,
)
from store import calendar as store
from store.db import Sessionmaker
from store.models import CalendarChange

router = APIRouter(prefix="/v1/calendar", tags=["calendar"])
# The standard calendar; the operators' changes in the case store go on top of it.
_BASE = WorkingDayCalendar()
_FIRST, _LAST = date(1900, 1, 1), date(2199, 12, 31)
Day = Annotated[date, Field(ge=_FIRST, le=_LAST, description="The day (YYYY-MM-DD)")]
Reader = Annotated[Principal, Depends(requires(can_read_calendar_changes,
                                               "read the calendar's changes"))]
Changer = Annotated[Principal, Depends(requires(can_change_calendar, "change the calendar"))]


@router.get(
    "/working-days", response_model=WorkingDay, responses=AUTH_RESPONSES,
    dependencies=[Depends(requires(can_use_calendar, "use the calendar"))],
    description="The date N working days after `start` in England: weekends and bank holidays "
                "(with the operators' changes) skipped.\n\n"
                f"{who_may(CALENDAR_ROLES)}",
)
async def working_days(
    session: Session,
    start: Annotated[date, Query(ge=_FIRST, le=_LAST,
                                 description="The date counted from (YYYY-MM-DD)")],
    days: Annotated[int, Query(ge=0, le=366,
                               description="Working days after start (0: start itself); the "
                                           "procedure counts forward only")],
) -> WorkingDay:
    """The date N working days after `start` in England: weekends and bank holidays skipped."""
    async with store_errors():
        calendar = await store.effective_calendar(session, _BASE)
    return WorkingDay(date=calendar.add_working_days(start, days))


class BankHolidayCreate(BaseModel):
    """A bank holiday announced after the standard calendar was released."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"day": "2023-05-08", "name": "Coronation of King Charles III"}]})

    day: Day
    name: Name


class BankHolidayRemoval(BaseModel):
    """A standard bank holiday that is a working day after all (moved, or cancelled)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"day": "2020-05-04", "reason": "Early May bank holiday moved to 8 May"}]})

    day: Day
    reason: Name


class CalendarChangeRead(BaseModel):
    day: date
    change: Literal["added", "removed"]
    name: str = Field(description="The holiday's name, or for a removal the reason given")
    made_by: str
    made_at: datetime

    @classmethod
    def of(cls, row: CalendarChange) -> CalendarChangeRead:
        return cls(day=row.day, change="added" if row.change == "added" else "removed",
                   name=row.name, made_by=row.made_by, made_at=row.made_at)


class CalendarChangeResult(BaseModel):
    """The change made (or withdrawn), and which open workflows were told of it."""

    signal: CalendarChanged = Field(description="What the open workflows were told")
    change: CalendarChangeRead = Field(description="The change made, or the one withdrawn")
    told: int = Field(description="Open cases, LCSPRs and action plans signalled")
    not_running: int = Field(description="Open in the case store, but finished or gone in "
                                         "Temporal: nothing to recount")
    unreachable: list[str] = Field(description="Workflow ids that could not be signalled; "
                                               "their deadlines are not recounted yet")


class BankHolidayRead(BaseModel):
    day: date
    name: str
    source: Literal["standard", "added", "removed"]
    in_effect: bool = Field(description="False for a standard bank holiday an operator removed")
    changed_by: str | None = None
    changed_at: datetime | None = None
    reason: str | None = Field(None, description="Why a standard one was removed")


class BankHolidays(BaseModel):
    year: int
    days: list[BankHolidayRead]


_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    503: {"model": Problem, "description": "The case store cannot be reached; try again"},
}
_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    409: {"model": Problem, "description": "The day already carries a change: withdraw it "
                                           "first"},
}


@asynccontextmanager
async def _changing(sessions: Sessionmaker) -> AsyncIterator[AsyncSession]:
    """One transaction, committed on leaving; the calendar's refusals as problems."""
    try:
        async with store_errors(), sessions.begin() as session:
            yield session
    except store.Refused as e:
        raise invalid(e.field, e.reason) from None
    except store.AlreadyChanged as e:
        raise ApiError(409, "Day already changed", str(e),
                       [FieldError(field="day", reason=str(e).removeprefix("day: "))]
                       ) from None
    except store.NoChange as e:
        raise ApiError(404, "No change on that day", str(e)) from None


async def _told(client: TemporalClient, sessions: Sessionmaker, row: CalendarChange,
                kind: CalendarChangeKind) -> CalendarChangeResult:
    signal = CalendarChanged(day=row.day, change=kind.value)
    async with store_errors():
        told = await tell_open_workflows(client, sessions, signal)
    return CalendarChangeResult(signal=signal, change=CalendarChangeRead.of(row),
                                told=told.told, not_running=told.not_running,
                                unreachable=told.unreachable)


@router.get(
    "/bank-holidays", response_model=BankHolidays, responses=_ERRORS,
    description="The bank holidays of a year in England as due dates are counted: the "
                "standard ones, and the days operators added or removed, by whom and when."
                f"\n\n{who_may(CALENDAR_CHANGES_READ_ROLES)}",
)
async def bank_holidays(
    session: Session, _: Reader,
    year: Annotated[int | None, Query(ge=_FIRST.year, le=_LAST.year,
                                      description="Defaults to this year in London")] = None,
) -> BankHolidays:
    """The effective bank holidays of a year, with where each came from."""
    year = year or london_date(datetime.now(UTC)).year
    days = {day: BankHolidayRead(day=day, name=name, source="standard", in_effect=True)
            for day, name in england_bank_holidays(year).items()}
    for row in await store.changes(session, year):
        if row.change == CalendarChangeKind.ADDED:
            days[row.day] = BankHolidayRead(day=row.day, name=row.name, source="added",
                                            in_effect=True, changed_by=row.made_by,
                                            changed_at=row.made_at)
        elif row.day in days:
            days[row.day] = days[row.day].model_copy(update={
                "source": "removed", "in_effect": False, "changed_by": row.made_by,
                "changed_at": row.made_at, "reason": row.name})
    return BankHolidays(year=year, days=[days[d] for d in sorted(days)])


@router.post(
    "/bank-holidays", status_code=201, response_model=CalendarChangeResult,
    responses=_CHANGE_ERRORS,
    description="Add a bank holiday announced after the standard calendar (a weekend or a "
                "standard bank holiday is refused). Every open case, LCSPR and action plan "
                "is then told (`calendar_changed`) and recounts its open working-day "
                f"deadlines.\n\n{who_may(CALENDAR_CHANGE_ROLES)}",
)
async def add_bank_holiday(
    body: BankHolidayCreate, sessions: Sessions, client: TemporalClient, principal: Changer,
    key: IdempotencyKey = None,
) -> CalendarChangeResult | JSONResponse:
    """Add a bank holiday, and tell every open workflow."""

    async def add() -> CalendarChangeResult:
        async with _changing(sessions) as session:
            row = await store.add_holiday(session, body.day, body.name, principal.subject,
                                          datetime.now(UTC))
        return await _told(client, sessions, row, CalendarChangeKind.ADDED)

    return await once(sessions, key, principal, "POST /v1/calendar/bank-holidays",
                      body.model_dump(mode="json"), 201, add)


@router.post(
    "/bank-holidays/removals", status_code=201, response_model=CalendarChangeResult,
    responses=_CHANGE_ERRORS,
    description="Make a standard bank holiday a working day (a day that is not one is "
                "refused; a day an operator added is withdrawn instead). Every open workflow "
                f"is then told.\n\n{who_may(CALENDAR_CHANGE_ROLES)}",
)
async def remove_bank_holiday(
    body: BankHolidayRemoval, sessions: Sessions, client: TemporalClient, principal: Changer,
    key: IdempotencyKey = None,
) -> CalendarChangeResult | JSONResponse:
    """Remove a standard bank holiday, and tell every open workflow."""

    async def remove() -> CalendarChangeResult:
        async with _changing(sessions) as session:
            row = await store.remove_holiday(session, body.day, body.reason,
                                             principal.subject, datetime.now(UTC))
        return await _told(client, sessions, row, CalendarChangeKind.REMOVED)

    return await once(sessions, key, principal, "POST /v1/calendar/bank-holidays/removals",
                      body.model_dump(mode="json"), 201, remove)


@router.delete(
    "/changes/{day}", response_model=CalendarChangeResult,
    responses={**_ERRORS, 404: {"model": Problem, "description": "No change on that day"}},
    description="Withdraw an operator's change: the standard calendar holds for the day "
                f"again, and every open workflow is told.\n\n{who_may(CALENDAR_CHANGE_ROLES)}",
)
async def withdraw_change(
    day: Annotated[date, Path(ge=_FIRST, le=_LAST, description="The day (YYYY-MM-DD)")],
    sessions: Sessions, client: TemporalClient, _: Changer,
) -> CalendarChangeResult:
    """Withdraw the change of a day, and tell every open workflow."""
    async with _changing(sessions) as session:
        row = await store.withdraw(session, day)
    return await _told(client, sessions, row, CalendarChangeKind.WITHDRAWN)

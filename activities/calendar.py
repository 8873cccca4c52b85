"""Due dates from the working-day calendar, computed outside workflow code (design principle 2)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, Field
from temporalio import activity

from domain.calendar import (
    REMINDER_HOUR,
    WorkingDayCalendar,
    add_calendar_months,
    end_of_day,
    london_date,
    london_instant,
)
from domain.case import ClockPoint, DueDate
from domain.procedure import Clock, Step, procedure
from store.calendar import effective_calendar
from store.db import Sessionmaker


class DueDatesInput(BaseModel):
    procedure_version: str
    clock: Clock
    start: ClockPoint
    steps: list[Step]
    # A step's working days as the case holds them, where not its procedure's (a target the
    # service sets by configuration, e.g. the further information to the Panel).
    working_days: dict[Step, int] = Field(default_factory=dict)


class DueDatesResult(BaseModel):
    clock_date: date
    due: list[DueDate]


class ClocksInput(BaseModel):
    """The due dates of several clocks at once (a case's opening: received, and LA aware)."""

    clocks: list[DueDatesInput]


class ClocksResult(BaseModel):
    """One result a clock, in the order asked."""

    clocks: list[DueDatesResult]


class DateRequest(BaseModel):
    """A due date counted from a start: working days (negative: before), then calendar months,
    then calendar days."""

    key: str
    start: ClockPoint
    working_days: int = 0
    calendar_months: int = 0
    calendar_days: int = 0
    # The reminder goes at 09:00 this many working days before the due date, unless that is
    # before `not_before` (default: the start), when it goes at 09:00 on the due date.
    remind_working_days: int = Field(1, ge=1, le=20)
    not_before: AwareDatetime | None = None


class DatesInput(BaseModel):
    requests: list[DateRequest]


class ComputedDate(BaseModel):
    key: str
    due_date: date
    deadline_at: AwareDatetime  # the end of the due date in London
    remind_at: AwareDatetime  # 09:00 the working day before (on the day if that has passed)


class DatesResult(BaseModel):
    dates: list[ComputedDate]

    def get(self, key: str) -> ComputedDate:
        return next(d for d in self.dates if d.key == key)


class CalendarActivities:
    """The calendar activities, on `calendar` with the operators' changes in the case store."""

    def __init__(self, calendar: WorkingDayCalendar, sessions: Sessionmaker) -> None:
        self._calendar = calendar
        self._sessions = sessions

    async def _effective(self) -> WorkingDayCalendar:
        # Read on every call (a handful of rows): a bank holiday an operator adds counts from
        # the next date computed. The result goes into history, so replay never reads it.
        async with self._sessions() as session:
            return await effective_calendar(session, self._calendar)

    @activity.defn(name="compute_due_dates")
    async def compute_due_dates(self, input: DueDatesInput) -> DueDatesResult:
        """Due dates of the steps counted from one clock, with their reminder times."""
        return due_dates(await self._effective(), input)

    @activity.defn(name="compute_clocks_due_dates")
    async def compute_clocks_due_dates(self, input: ClocksInput) -> ClocksResult:
        """`compute_due_dates` for several clocks, in one request (one calendar read)."""
        calendar = await self._effective()
        return ClocksResult(clocks=[due_dates(calendar, clock) for clock in input.clocks])

    @activity.defn(name="compute_dates")
    async def compute_dates(self, input: DatesInput) -> DatesResult:
        """Any due dates a workflow needs (supervision returns, publication, actions)."""
        return compute_dates(await self._effective(), input)


def _start(point: ClockPoint) -> tuple[date, datetime]:
    if point.on is not None:
        return point.on, london_instant(point.on)
    if point.at is not None:
        return london_date(point.at), point.at
    raise ValueError("start: neither a date nor an instant")


def _remind_at(
    calendar: WorkingDayCalendar, day: date, started_at: datetime, working_days: int = 1
) -> datetime:
    # Remind that many working days before; if that was before the clock started, on the day.
    remind_at = london_instant(calendar.add_working_days(day, -working_days), REMINDER_HOUR)
    return remind_at if remind_at > started_at else london_instant(day, REMINDER_HOUR)


def compute_dates(calendar: WorkingDayCalendar, input: DatesInput) -> DatesResult:
    dates = []
    for request in input.requests:
        start_date, started_at = _start(request.start)
        day = add_calendar_months(
            calendar.add_working_days(start_date, request.working_days), request.calendar_months
        ) + timedelta(days=request.calendar_days)
        remind_at = _remind_at(calendar, day, request.not_before or started_at,
                               request.remind_working_days)
        dates.append(ComputedDate(key=request.key, due_date=day, deadline_at=end_of_day(day),
                                  remind_at=remind_at))
    return DatesResult(dates=dates)


def due_dates(calendar: WorkingDayCalendar, input: DueDatesInput) -> DueDatesResult:
    start_date, started_at = _start(input.start)
    proc = procedure(input.procedure_version)
    due: list[DueDate] = []
    for step in input.steps:
        for deadline in proc.spec(step).deadlines:
            if deadline.clock is not input.clock:
                continue
            day = calendar.add_working_days(
                start_date, input.working_days.get(step, deadline.working_days))
            due.append(DueDate(step=step, due_date=day, deadline_at=end_of_day(day),
                               remind_at=_remind_at(calendar, day, started_at)))
    return DueDatesResult(clock_date=start_date, due=due)

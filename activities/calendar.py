"""Due dates from the working-day calendar, computed outside workflow code (design principle 2)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from temporalio import activity

from domain.calendar import (
    REMINDER_HOUR,
    WorkingDayCalendar,
    end_of_day,
    london_date,
    london_instant,
)
from domain.case import ClockPoint, DueDate
from domain.procedure import Clock, Step, procedure


class DueDatesInput(BaseModel):
    procedure_version: str
    clock: Clock
    start: ClockPoint
    steps: list[Step]


class DueDatesResult(BaseModel):
    clock_date: date
    due: list[DueDate]


class CalendarActivities:
    def __init__(self, calendar: WorkingDayCalendar) -> None:
        self._calendar = calendar

    @activity.defn(name="compute_due_dates")
    async def compute_due_dates(self, input: DueDatesInput) -> DueDatesResult:
        """Due dates of the steps counted from one clock, with their reminder times."""
        return due_dates(self._calendar, input)


def due_dates(calendar: WorkingDayCalendar, input: DueDatesInput) -> DueDatesResult:
    if input.start.on is not None:
        start_date = input.start.on
        started_at = london_instant(start_date)
    elif input.start.at is not None:
        start_date = london_date(input.start.at)
        started_at = input.start.at
    else:
        raise ValueError("start: neither a date nor an instant")
    proc = procedure(input.procedure_version)
    due: list[DueDate] = []
    for step in input.steps:
        for deadline in proc.spec(step).deadlines:
            if deadline.clock is not input.clock:
                continue
            day = calendar.add_working_days(start_date, deadline.working_days)
            # Remind on the working day before; if that was before the clock started, on the day.
            remind_at = london_instant(calendar.previous_working_day(day), REMINDER_HOUR)
            if remind_at <= started_at:
                remind_at = london_instant(day, REMINDER_HOUR)
            due.append(DueDate(step=step, due_date=day, deadline_at=end_of_day(day),
                               remind_at=remind_at))
    return DueDatesResult(clock_date=start_date, due=due)

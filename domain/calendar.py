"""Working days in England (footnote 18 of the procedure): not a weekend, not a bank holiday."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel

LONDON = ZoneInfo("Europe/London")

# The hour of the working day before a due date at which a reminder goes out.
REMINDER_HOUR = time(9, 0)


@lru_cache(maxsize=64)
def _england_bank_holidays(year: int) -> frozenset[date]:
    return frozenset(england_bank_holidays(year))


@lru_cache(maxsize=64)
def england_bank_holidays(year: int) -> dict[date, str]:
    """The standard bank holidays in England of a year, by name (as the `holidays` package
    knows them: a day announced after its release is missing until an operator adds it)."""
    # Observed (substitute) days included: a Christmas on a Saturday moves to the Monday.
    days = holidays.country_holidays("GB", subdiv="ENG", years=year, observed=True)
    return dict(sorted(days.items()))


class CalendarChangeKind(StrEnum):
    """What an operator did to a day of the calendar."""

    ADDED = "added"  # a bank holiday announced after the `holidays` release (2022, 2023)
    REMOVED = "removed"  # a standard bank holiday that is not one after all (moved away)
    WITHDRAWN = "withdrawn"  # an earlier change taken back: the standard calendar again


class CalendarChanged(BaseModel):
    """The `calendar_changed` signal: a day's standing changed; open deadlines are recounted."""

    day: date
    change: str  # a CalendarChangeKind value


class WorkingDayCalendar:
    """England's working days, with days an operator has added or removed."""

    def __init__(
        self, extra_holidays: Iterable[date] = (), removed_holidays: Iterable[date] = ()
    ) -> None:
        self._extra = frozenset(extra_holidays)
        self._removed = frozenset(removed_holidays)

    def with_changes(self, added: Iterable[date], removed: Iterable[date]) -> WorkingDayCalendar:
        """This calendar with an operator's changes on top: theirs win for the days they name."""
        added, removed = frozenset(added), frozenset(removed)
        return WorkingDayCalendar((self._extra - removed) | added,
                                  (self._removed - added) | removed)

    def is_bank_holiday(self, day: date) -> bool:
        if day in self._removed:
            return False
        return day in self._extra or day in _england_bank_holidays(day.year)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and not self.is_bank_holiday(day)

    def add_working_days(self, start: date, days: int) -> date:
        """The Nth working day after `start` (before it, for negative N); `start` itself for 0."""
        step = 1 if days >= 0 else -1
        remaining = abs(days)
        day = start
        while remaining:
            day += timedelta(days=step)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def previous_working_day(self, day: date) -> date:
        return self.add_working_days(day, -1)


def add_calendar_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier); the month's last day where it is shorter."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def london_date(instant: datetime) -> date:
    """The calendar date in Europe/London at an instant."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(LONDON).date()


def london_instant(day: date, at: time = time(0, 0)) -> datetime:
    """The UTC instant of a wall-clock time in Europe/London on a date."""
    return datetime.combine(day, at, tzinfo=LONDON).astimezone(UTC)


def end_of_day(day: date) -> datetime:
    """The UTC instant a London day ends: a step due on `day` is overdue from then."""
    return london_instant(day + timedelta(days=1))


def latest_london_date(utc_now: datetime) -> date:
    """The latest date it can be in London at `utc_now`, without a time-zone look-up.

    London is never more than one hour ahead of UTC, so workflow code can bound "today"
    deterministically; used to refuse dates in the future.
    """
    return (utc_now.astimezone(UTC) + timedelta(hours=1)).date()

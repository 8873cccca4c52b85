"""Helpers for tests of a bank holiday added to the calendar after cases started."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from domain.calendar import WorkingDayCalendar
from store import calendar as store
from store.db import Sessionmaker

CAL = WorkingDayCalendar()


def a_plain_week(after: date, clear_days: int = 35) -> date:
    """The first Monday after `after` followed by `clear_days` with no bank holiday (so the
    dates a test expects are plain weekday counts, easy to check by hand)."""
    day = after + timedelta(days=7 - after.weekday())
    while any(CAL.is_bank_holiday(day + timedelta(days=i)) for i in range(clear_days)):
        day += timedelta(days=7)
    return day


async def add_day(sessions: Sessionmaker, added: list[date], day: date) -> None:
    """Add `day` as a bank holiday in the case store, noted in `added` (the `added` fixture
    withdraws each after the test)."""
    async with sessions.begin() as session:
        await store.add_holiday(session, day, "A late bank holiday", "test", datetime.now(UTC))
    added.append(day)

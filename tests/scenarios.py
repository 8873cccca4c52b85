"""Dates and walks through a case shared by the tests and the history recorder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

LONDON = ZoneInfo("Europe/London")

# Sends one step's record to a case: by signal or by update.
Send = Callable[..., Awaitable[Any]]


def at_london(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


async def travel_to(env: WorkflowEnvironment, instant: datetime) -> None:
    """Skip the time-skipping server's clock forward to `instant`."""
    now = await env.get_current_time()
    if instant > now:
        await env.sleep(instant - now)


def next_monday_21_december(after: datetime) -> date:
    """The next 21 December that is a Monday: Christmas is then a Friday and Boxing Day a
    Saturday, so 28 December is a substitute bank holiday and 1 January a Friday."""
    year = after.year
    while True:
        day = date(year, 12, 21)
        if day.weekday() == 0 and at_london(day) > after:
            return day
        year += 1


def easter_sunday(year: int) -> date:
    """Anonymous Gregorian algorithm (Meeus/Jones/Butcher), independent of `holidays`."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    return date(year, month, (h + ell - 7 * m + 114) % 31 + 1)


def next_wednesday_before_easter(after: datetime) -> date:
    year = after.year
    while True:
        wednesday = easter_sunday(year) - timedelta(days=4)
        if at_london(wednesday) > after:
            return wednesday
        year += 1


async def to_rapid_review(send: Send) -> None:
    """Flowchart 1: the partners informed, the SSLs' recommendation, the DSPs all agreeing."""
    await send("inform_partners")
    await send("ssl_recommendation", criteria_met=True, recommend_panel_notification=True,
               rationale="Criteria met")
    for partner in ("local_authority", "health", "police"):
        await send("dsp_decision", partner=partner, criteria_met=True, rationale="Agreed")


async def rapid_review_to_submission(send: Send, agencies: list[str],
                                     outcome: str = "local_review") -> None:
    """Every rapid review step, on time, from agency requests to submission."""
    await send("agency_requests", agencies=agencies)
    for agency in agencies:
        await send("agency_reports", agency=agency)
    await send("rapid_review_meeting", recommendations=["Share the learning on bruising"],
               outcome=outcome, rationale="Two agencies did not share information")
    await send("rapid_review_report")
    for partner in ("local_authority", "health", "police"):
        await send("rapid_review_signoff", partner=partner)
    await send("wellbeing_sessions", relevant=False)
    await send("rapid_review_submission")

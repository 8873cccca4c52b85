"""The working-day calendar, for partner systems and for checking a due date."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.schemas import WorkingDay
from domain.calendar import WorkingDayCalendar

router = APIRouter(prefix="/v1/calendar", tags=["calendar"])
_CALENDAR = WorkingDayCalendar()


@router.get("/working-days", response_model=WorkingDay)
async def working_days(
    start: Annotated[date, Query(description="The date counted from (YYYY-MM-DD)")],
    days: Annotated[int, Query(ge=-366, le=366,
                               description="Working days after start; negative for before")],
) -> WorkingDay:
    """The date N working days after `start` in England: weekends and bank holidays skipped."""
    return WorkingDay(date=_CALENDAR.add_working_days(start, days))

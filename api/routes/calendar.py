"""The working-day calendar, for partner systems and for checking a due date."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import AUTH_RESPONSES, who_may
from api.deps import requires
from api.schemas import WorkingDay
from domain.calendar import WorkingDayCalendar
from domain.permissions import CALENDAR_ROLES, can_use_calendar

router = APIRouter(prefix="/v1/calendar", tags=["calendar"])
_CALENDAR = WorkingDayCalendar()


@router.get(
    "/working-days", response_model=WorkingDay, responses=AUTH_RESPONSES,
    dependencies=[Depends(requires(can_use_calendar, "use the calendar"))],
    description="The date N working days after `start` in England: weekends and bank holidays "
                f"skipped.\n\n{who_may(CALENDAR_ROLES)}",
)
async def working_days(
    start: Annotated[date, Query(ge=date(1900, 1, 1), le=date(2199, 12, 31),
                                 description="The date counted from (YYYY-MM-DD)")],
    days: Annotated[int, Query(ge=-366, le=366,
                               description="Working days after start; negative for before")],
) -> WorkingDay:
    """The date N working days after `start` in England: weekends and bank holidays skipped."""
    return WorkingDay(date=_CALENDAR.add_working_days(start, days))

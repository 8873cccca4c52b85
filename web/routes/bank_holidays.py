"""Bank holidays announced late (or moved): the year's bank holidays as due dates are counted,
the operators' changes, and what each change moved. Operations add a day, make a standard one a
working day, or withdraw a change, through the API's own functions (the same refusals, in the
same words; every open case, LCSPR and action plan told); the MARS team and auditors read."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.deps import Sessions, TemporalClient
from api.errors import ApiError, from_validation, store_errors
from api.routes.calendar import (
    BankHolidayCreate,
    BankHolidayRemoval,
    CalendarChangeResult,
    add_bank_holiday,
    bank_holidays,
    remove_bank_holiday,
    withdraw_change,
)
from domain.calendar import london_date
from domain.permissions import can_change_calendar, can_read_calendar_changes
from store import calendar as calendar_store
from web import session
from web.dates import DateAnswer, read_date
from web.forms import words
from web.pages import render

router = APIRouter(include_in_schema=False)
SignedIn = Annotated[session.Person, Depends(session.signed_in)]
PAGE = "/calendar/bank-holidays"
FIRST_YEAR, LAST_YEAR = 1900, 2199


def _refused(request: Request, person: session.Person, what: str) -> Response:
    return render(request, "error.html", person, 403, title=f"You cannot {what}",
                  message=f"The {words(person.role).lower()} role cannot {what}.")


async def _page(request: Request, person: session.Person, sessions: Sessions, year: int,
                day: date | None = None, status: int = 200, form: str = "",
                answer: DateAnswer | None = None, text: str = "",
                errors: dict[str, str] | None = None, told: dict[str, Any] | None = None
                ) -> Response:
    async with store_errors(), sessions() as s:
        listed = await bank_holidays(s, person.principal(), year)
        moved = await calendar_store.moves(s, day) if day else []
    errors = errors or {}
    # The summary links to the first box at fault (GOV.UK's date input), or the text box.
    first = (answer.wrong or ("day",))[0] if answer else "day"
    field_ids = {"day": f"{form}-day-{first}", "name": f"{form}-text"}
    summary = [{"text": reason, "href": f"#{field_ids.get(field, field)}"}
               for field, reason in errors.items()]
    blank = DateAnswer()
    return render(
        request, "bank_holidays.html", person, status, title="Bank holidays", year=year,
        years=list(range(year - 2, year + 3)), days=listed.days, day=day, moved=moved,
        may_change=can_change_calendar(person.role_enum), errors=summary,
        field_errors=errors, form=form, told=told, key=str(uuid.uuid4()),
        add=answer if form == "add" else blank, remove=answer if form == "remove" else blank,
        add_text=text if form == "add" else "", remove_text=text if form == "remove" else "")


@router.get(PAGE, response_class=HTMLResponse)
async def bank_holidays_page(request: Request, person: SignedIn, sessions: Sessions,
                             year: int | None = None, day: str = "", told: str = "",
                             not_running: str = "", unreachable: str = "") -> Response:
    """The year's bank holidays; with `day`, the due dates its change moved."""
    if not can_read_calendar_changes(person.role_enum):
        return _refused(request, person, "read the calendar's changes")
    this_year = london_date(datetime.now(UTC)).year
    year = year if year is not None and FIRST_YEAR <= year <= LAST_YEAR else this_year
    try:
        chosen = date.fromisoformat(day) if day else None
    except ValueError:
        chosen = None
    result = ({"told": told, "not_running": not_running or "0", "unreachable": unreachable}
              if told.isdigit() else None)
    return await _page(request, person, sessions, year, chosen, told=result)


def _field_errors(e: ApiError) -> dict[str, str]:
    found = {err.field.split(".")[0]: err.reason for err in e.problem.errors}
    return found or {"day": e.problem.detail or e.problem.title}


def _after(result: CalendarChangeResult | JSONResponse, day: date) -> Response:
    """To the year's page, showing what the change moved and how many were told."""
    query = f"year={day.year}&day={day.isoformat()}"
    if isinstance(result, CalendarChangeResult):
        query += (f"&told={result.told}&not_running={result.not_running}"
                  f"&unreachable={len(result.unreachable)}")
    return RedirectResponse(f"{PAGE}?{query}", status_code=303)


async def _change(request: Request, person: SignedIn, sessions: Sessions,
                  client: TemporalClient, form_name: str) -> Response:
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not can_change_calendar(person.role_enum):
        return _refused(request, person, "change the calendar")
    answer = read_date(form, f"{form_name}-day", "the date", first=date(FIRST_YEAR, 1, 1),
                       last=date(LAST_YEAR, 12, 31))
    text = str(form.get(f"{form_name}-text", "")).strip()
    # The year's list under the form: the date's, or the year typed when the date is not real.
    typed = answer.given.get("year", "")
    year = (answer.value.year if answer.value
            else int(typed) if typed.isdigit() and FIRST_YEAR <= int(typed) <= LAST_YEAR
            else london_date(datetime.now(UTC)).year)
    key = str(form.get("idempotency_key", "")) or None
    errors: dict[str, str] = {}
    if answer.error:
        errors["day"] = answer.error
    if not text:
        errors["name"] = ("Enter the bank holiday's name" if form_name == "add"
                          else "Enter why it is a working day")
    if errors or answer.value is None:
        return await _page(request, person, sessions, year, None, 422, form_name, answer, text,
                           errors)
    try:
        if form_name == "add":
            try:
                added = BankHolidayCreate(day=answer.value, name=text)
            except ValidationError as e:
                raise from_validation(e) from None
            result = await add_bank_holiday(added, sessions, client, person.principal(), key)
        else:
            try:
                removal = BankHolidayRemoval(day=answer.value, reason=text)
            except ValidationError as e:
                raise from_validation(e) from None
            result = await remove_bank_holiday(removal, sessions, client, person.principal(),
                                               key)
    except ApiError as e:
        if e.problem.status >= 500:
            raise
        errors = {("name" if f == "reason" else f): r for f, r in _field_errors(e).items()}
        return await _page(request, person, sessions, year, None, e.problem.status, form_name,
                           answer, text, errors)
    return _after(result, answer.value)


@router.post(PAGE, response_class=HTMLResponse)
async def add(request: Request, person: SignedIn, sessions: Sessions,
              client: TemporalClient) -> Response:
    """Add a bank holiday announced after the standard calendar."""
    return await _change(request, person, sessions, client, "add")


@router.post(f"{PAGE}/removals", response_class=HTMLResponse)
async def remove(request: Request, person: SignedIn, sessions: Sessions,
                 client: TemporalClient) -> Response:
    """Make a standard bank holiday a working day."""
    return await _change(request, person, sessions, client, "remove")


@router.post(f"{PAGE}/withdrawals", response_class=HTMLResponse)
async def withdraw(request: Request, person: SignedIn, sessions: Sessions,
                   client: TemporalClient) -> Response:
    """Withdraw an operator's change: the standard calendar holds for the day again."""
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not can_change_calendar(person.role_enum):
        return _refused(request, person, "change the calendar")
    try:
        day = date.fromisoformat(str(form.get("day", "")))
    except ValueError:
        raise ApiError(404, "No change on that day", "choose a change from the list") from None
    result = await withdraw_change(day, sessions, client, person.principal())
    return _after(result, day)

"""Meetings booked for a case: the rapid review meeting and an LCSPR's panel meetings, booked
by the MARS team with a date, a start and end time (UK time) and a place, shown on the case and
as timed events in the calendar feeds of those who attend (`domain.permissions.MEETING_ROLES`).
Kept in the case store (store/meetings.py): a booking is no step of the procedure; the meeting
itself is recorded by its step's form once held."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import Sessions
from api.errors import ApiError, not_found, store_errors
from api.schemas import CASE_ID_PATTERN
from domain.calendar import london_date
from domain.permissions import can_book_meeting
from domain.text import clean_line
from store import meetings as store
from store.models import Case
from web import session
from web.dates import DateAnswer, read_date
from web.forms import LONDON, words
from web.pages import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(session.case_bound)])
SignedIn = Annotated[session.Person, Depends(session.signed_in)]
KINDS = {"rapid_review_meeting": "Rapid review meeting",
         "lcspr_panel_meeting": "LCSPR panel meeting"}
_TIME = re.compile(r"(\d{1,2})[:.](\d{2})\s*(am|pm)?", re.IGNORECASE)


def parse_time(text: str) -> time | None:
    """14:30, 2:30pm, 9.15: a time of day, or None."""
    found = _TIME.fullmatch(text.strip())
    if found is None:
        return None
    hour, minute, half = int(found.group(1)), int(found.group(2)), (found.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


@dataclass
class Booking:
    kind: str
    day: DateAnswer
    start: str
    end: str
    place: str


def _refused(request: Request, person: session.Person) -> Response:
    return render(request, "error.html", person, 403, title="You cannot book meetings",
                  message=f"The {words(person.role).lower()} role cannot book a case's "
                          "meetings.")


def _form(request: Request, person: session.Person, case_id: str, booking: Booking,
          errors: dict[str, str] | None = None, status: int = 200) -> Response:
    errors = errors or {}
    first = (booking.day.wrong or ("day",))[0]
    anchors = {"day": f"day-{first}", "kind": "kind"}
    return render(request, "meeting.html", person, status, title="Book a meeting",
                  case_id=case_id, booking=booking, kinds=list(KINDS.items()),
                  field_errors=errors, key=str(uuid.uuid4()),
                  errors=[{"text": r, "href": f"#{anchors.get(f, f)}"} for f, r in errors.items()])


async def _open_case(sessions: Sessions, case_id: str) -> Case:
    if not re.fullmatch(CASE_ID_PATTERN, case_id):
        raise ApiError(404, "Page not found", "no such page")
    async with store_errors(), sessions() as s:
        case = await s.get(Case, case_id)
    if case is None:
        raise not_found(case_id)
    if case.stage == "closed":
        raise ApiError(409, "The case is closed", f"{case_id} is closed: no meeting to book")
    return case


@router.get("/cases/{case_id}/meetings/new", response_class=HTMLResponse)
async def meeting_form(request: Request, case_id: str, person: SignedIn,
                       sessions: Sessions) -> Response:
    if not can_book_meeting(person.role_enum):
        return _refused(request, person)
    await _open_case(sessions, case_id)
    return _form(request, person, case_id, Booking("rapid_review_meeting", DateAnswer(), "",
                                                   "", ""))


@router.post("/cases/{case_id}/meetings", response_class=HTMLResponse)
async def book(request: Request, case_id: str, person: SignedIn, sessions: Sessions
               ) -> Response:
    """Book a meeting; refused by the field (GOV.UK's words), nothing kept."""
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not can_book_meeting(person.role_enum):
        return _refused(request, person)
    await _open_case(sessions, case_id)
    now = datetime.now(UTC)
    today = london_date(now)
    booking = Booking(
        kind=str(form.get("kind", "")),
        day=read_date(form, "day", "the date of the meeting"),
        start=str(form.get("start", "")).strip(), end=str(form.get("end", "")).strip(),
        place=str(form.get("place", "")).strip())
    errors: dict[str, str] = {}
    if booking.kind not in KINDS:
        errors["kind"] = "Select which meeting it is"
    if booking.day.error:
        errors["day"] = booking.day.error
    elif booking.day.value is not None and booking.day.value < today:
        errors["day"] = "The date of the meeting must be today or in the future"
    elif booking.day.value is not None and booking.day.value > today + timedelta(days=730):
        errors["day"] = "The date of the meeting must be within the next 2 years"
    start, end = parse_time(booking.start), parse_time(booking.end)
    if not booking.start:
        errors["start"] = "Enter the time the meeting starts"
    elif start is None:
        errors["start"] = "Enter the start time as hours and minutes, for example 14:30"
    if not booking.end:
        errors["end"] = "Enter the time the meeting ends"
    elif end is None:
        errors["end"] = "Enter the end time as hours and minutes, for example 16:00"
    elif start is not None and end <= start:
        errors["end"] = "The end time must be after the start time"
    if not booking.place:
        errors["place"] = "Enter where the meeting is (a room or a video call)"
    elif len(booking.place) > 200:
        errors["place"] = "Where the meeting is must be 200 characters or fewer"
    else:
        try:
            clean_line(booking.place)
        except ValueError as e:
            errors["place"] = f"Where the meeting is {e}"
    if errors or booking.day.value is None or start is None or end is None:
        return _form(request, person, case_id, booking, errors, 422)
    starts_at = datetime.combine(booking.day.value, start, LONDON)
    if starts_at <= now:
        return _form(request, person, case_id, booking,
                     {"start": "The start time must be in the future"}, 422)
    actor = (person.email, person.role, person.organisation)
    async with store_errors(), sessions.begin() as s:
        await store.book(s, case_id, booking.kind, starts_at.astimezone(UTC),
                         datetime.combine(booking.day.value, end, LONDON).astimezone(UTC),
                         booking.place, actor, now)
    return RedirectResponse(f"/cases/{case_id}#meetings", status_code=303)


@router.post("/cases/{case_id}/meetings/{meeting_id}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, case_id: str, meeting_id: int, person: SignedIn,
                 sessions: Sessions) -> Response:
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not can_book_meeting(person.role_enum):
        return _refused(request, person)
    if not re.fullmatch(CASE_ID_PATTERN, case_id) or not 0 < meeting_id < 2**31:
        return render(request, "not_found.html", person, 404, title="Page not found")
    actor = (person.email, person.role, person.organisation)
    async with store_errors(), sessions.begin() as s:
        found = await store.cancel(s, case_id, meeting_id, actor, datetime.now(UTC))
    if not found:
        return render(request, "not_found.html", person, 404, title="Page not found")
    return RedirectResponse(f"/cases/{case_id}#meetings", status_code=303)


def meeting_rows(meetings: Any) -> list[dict[str, Any]]:
    """The case page's rows: each meeting in UK time."""
    return [{"id": m.id, "kind": KINDS.get(m.kind, words(m.kind)),
             "starts": m.starts_at.astimezone(LONDON), "ends": m.ends_at.astimezone(LONDON),
             "place": m.place} for m in meetings]

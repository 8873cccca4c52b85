"""A person's private calendar feed (ICS) of the deadlines they or their organisation own.

Outlook and Google Calendar subscribe to its secret URL; making a new one revokes the old. Each
due date is an all-day event naming the case id and the step, never the child; statutory ones
say so. The feed is worked out when it is fetched, so a date moved or a step done shows at the
calendar's next refresh.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from icalendar import Calendar, Event
from sqlalchemy import select

from api.deps import Sessions
from api.errors import store_errors
from domain.permissions import Role, attends_meetings
from store import assignments
from store import meetings as meetings_store
from store.models import CalendarFeed, Meeting
from web import session
from web.pages import render
from web.routes.meetings import KINDS as MEETING_KINDS
from web.routes.work import work_of
from web.work import WorkItem

router = APIRouter(include_in_schema=False)
SignedIn = Annotated[session.Person, Depends(session.signed_in)]
# A meeting stays in the feed for a month after it ends (a calendar keeps what it showed).
MEETINGS_KEPT = timedelta(days=31)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@router.get("/calendar", response_class=HTMLResponse)
async def calendar_page(request: Request, person: SignedIn, sessions: Sessions) -> Response:
    """Whether the person has a feed; its URL is shown once, when made."""
    async with store_errors(), sessions() as s:
        feed = await s.get(CalendarFeed, person.email)
    return render(request, "calendar.html", person, title="Calendar feed", feed=feed, url=None)


@router.post("/calendar")
async def new_feed(request: Request, person: SignedIn, sessions: Sessions,
                   csrf_token: Annotated[str, Form()] = "") -> Response:
    """A new secret URL for the person's feed; the old one stops working."""
    session.check_csrf(person, csrf_token)
    token = secrets.token_urlsafe(32)
    async with store_errors(), sessions.begin() as s:
        feed = await s.get(CalendarFeed, person.email)
        if feed is None:
            feed = CalendarFeed(subject=person.email)
            s.add(feed)
        feed.token_hash, feed.role, feed.organisation, feed.partnership = (
            _hash(token), person.role, person.organisation, person.partnership)
        feed.created_at = datetime.now(UTC)
    # Shown on this answer only, never in a URL the browser keeps or a log records.
    url = f"{str(request.base_url).rstrip('/')}/calendar/{token}.ics"
    return render(request, "calendar.html", person, title="Calendar feed", feed=feed, url=url)


@router.post("/calendar/revoke")
async def revoke_feed(person: SignedIn, sessions: Sessions,
                      csrf_token: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(person, csrf_token)
    async with store_errors(), sessions.begin() as s:
        feed = await s.get(CalendarFeed, person.email)
        if feed is not None:
            await s.delete(feed)
    return RedirectResponse("/calendar", status_code=303)


def ics(work: list[WorkItem], base_url: str, now: datetime,
        meetings: Sequence[Meeting] = ()) -> bytes:
    """The deadlines as an iCalendar: one all-day event on each due date; each meeting booked
    (the rapid review meeting, an LCSPR's panel meeting) a timed event, in UTC."""
    cal = Calendar()
    cal.add("prodid", "-//North Lincolnshire Children's MARS//cspr//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "CSPR deadlines")
    for item in work:
        if item.due_date is None:
            continue  # no deadline: nothing to put in a calendar
        kind = "Statutory" if item.statutory else "Local"
        party = f" ({item.party.replace('_', ' ')})" if item.party else ""
        event = Event()
        which = item.party or item.difference or item.query or "all"
        event.add("uid", f"{item.case_id}-{item.part}-{item.step}-{which}@cspr")
        event.add("dtstamp", now)
        event.add("dtstart", item.due_date)
        event.add("dtend", item.due_date + timedelta(days=1))
        event.add("summary", f"{item.case_id}: {item.title}{party} [{kind.lower()}]")
        event.add("description", f"{kind} deadline. Record it: {base_url}{item.path}")
        event.add("categories", [kind])
        cal.add_component(event)
    for meeting in meetings:
        event = Event()
        event.add("uid", f"{meeting.case_id}-meeting-{meeting.id}@cspr")
        event.add("dtstamp", now)
        event.add("dtstart", meeting.starts_at.astimezone(UTC))
        event.add("dtend", meeting.ends_at.astimezone(UTC))
        event.add("summary", f"{meeting.case_id}: {MEETING_KINDS.get(meeting.kind, meeting.kind)}")
        event.add("location", meeting.place)
        event.add("description", f"The case: {base_url}/cases/{meeting.case_id}")
        event.add("categories", ["Meeting"])
        cal.add_component(event)
    content: bytes = cal.to_ical()
    return content


@router.get("/calendar/{token}.ics")
async def feed(request: Request, token: str, sessions: Sessions) -> Response:
    """The feed itself: its secret URL is the only key (calendar apps send no cookies)."""
    async with store_errors(), sessions() as s:
        found = await s.scalar(select(CalendarFeed).where(
            CalendarFeed.token_hash == _hash(token)))
        if found is None:
            return Response("no such calendar feed", status_code=404, media_type="text/plain")
        role = Role(found.role)
        work = await work_of(s, role, found.organisation, found.subject, include_later=True,
                             partnership=found.partnership)
        now = datetime.now(UTC)
        meetings: Sequence[Meeting] = []
        if attends_meetings(role):
            only = (await assignments.cases_of(s, found.subject)
                    if role is Role.REVIEWER else None)
            meetings = await meetings_store.upcoming(s, now - MEETINGS_KEPT, only,
                                                     partnership=found.partnership)
    return Response(ics(work, str(request.base_url).rstrip("/"), now, meetings),
                    media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300"})

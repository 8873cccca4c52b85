"""Meetings in the calendar feed (issue 10, "the rapid review meeting as a timed event once
booked"): the MARS team books the rapid review meeting on the case page (refused by the field
in GOV.UK's words, nothing kept), it shows on the case and, parsed from the feeds of those who
attend, is a timed event at the booked UK time naming the case and never the child; another
role's feed leaves it out; cancelled, it leaves the feeds. Through the real app (ASGI), dev
server, worker and case store."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from httpx import AsyncClient
from icalendar import Calendar

from tests.test_workspace_forms import NOTIFICATION, browser_of, page_errors  # noqa: F401
from web.routes.meetings import parse_time

LONDON = ZoneInfo("Europe/London")


async def feed_of(web: AsyncClient, csrf: str) -> list[Any]:
    """The person's calendar feed, made on the calendar page, as parsed events."""
    made = await web.post("/calendar", data={"csrf_token": csrf})
    found = re.search(r'<code id="feed-url">([^<]+)</code>', made.text)
    assert found is not None, made.text
    path = found.group(1).split("://", 1)[1].split("/", 1)[1]
    got = await web.get(f"/{path}")
    assert got.status_code == 200
    return list(Calendar.from_ical(got.content).walk("VEVENT"))


def meeting_form(csrf: str, day: date, start: str = "14:30", end: str = "16:00",
                 place: str = "Church Square House, room 2") -> dict[str, str]:
    return {"csrf_token": csrf, "kind": "rapid_review_meeting", "day-day": str(day.day),
            "day-month": str(day.month), "day-year": str(day.year), "start": start,
            "end": end, "place": place}


def test_times_as_people_type_them() -> None:
    assert parse_time("14:30") == datetime(2026, 1, 1, 14, 30).time()
    assert parse_time("2:30pm") == datetime(2026, 1, 1, 14, 30).time()
    assert parse_time("12.15am") == datetime(2026, 1, 1, 0, 15).time()
    for bad in ("", "25:00", "14:60", "noon", "13:00pm", "1430"):
        assert parse_time(bad) is None, bad


async def test_the_rapid_review_meeting_is_a_timed_event_in_the_feeds(
    api: AsyncClient, browser_of: Any,  # noqa: F811
) -> None:
    reference = "NL-MEET-0042"
    made = await api.post("/v1/notifications", json={**NOTIFICATION,
                                                     "children": [{"reference": reference}]})
    assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    mars, csrf = browser_of("mars_team")
    page = await mars.get(f"/cases/{case_id}")
    assert f'href="/cases/{case_id}/meetings/new"' in page.text
    assert (await mars.get(f"/cases/{case_id}/meetings/new")).status_code == 200

    # Refused by the field, in GOV.UK's words; nothing booked.
    day = datetime.now(LONDON).date() + timedelta(days=10)
    empty = await mars.post(f"/cases/{case_id}/meetings", data={"csrf_token": csrf})
    assert empty.status_code == 422
    assert page_errors(empty.text) == {
        "kind": "Select which meeting it is", "day": "Enter the date of the meeting",
        "start": "Enter the time the meeting starts", "end": "Enter the time the meeting ends",
        "place": "Enter where the meeting is (a room or a video call)"}
    backwards = await mars.post(f"/cases/{case_id}/meetings",
                                data=meeting_form(csrf, day, "16:00", "15:00"))
    assert page_errors(backwards.text) == {"end": "The end time must be after the start time"}
    past = await mars.post(f"/cases/{case_id}/meetings",
                           data=meeting_form(csrf, day - timedelta(days=20)))
    assert page_errors(past.text) == {
        "day": "The date of the meeting must be today or in the future"}
    assert "None booked." in (await mars.get(f"/cases/{case_id}")).text

    booked = await mars.post(f"/cases/{case_id}/meetings", data=meeting_form(csrf, day))
    assert booked.status_code == 303, booked.text
    page = await mars.get(f"/cases/{case_id}")
    meetings = page.text[page.text.index('id="meeting-list"'):]
    assert "Rapid review meeting" in meetings
    assert "14:30 to 16:00" in meetings
    assert "Church Square House, room 2" in meetings
    assert "Meeting booked" in page.text[page.text.index('id="timeline"'):]

    starts = datetime(day.year, day.month, day.day, 14, 30, tzinfo=LONDON)
    for role, org in (("mars_team", None), ("ssl", "health"), ("dsp", "police")):
        web, web_csrf = browser_of(role, org)
        events = await feed_of(web, web_csrf)
        mine = [e for e in events if str(e["summary"]).startswith(case_id)
                and "meeting" in str(e["summary"]).lower()]
        assert len(mine) == 1, (role, [str(e["summary"]) for e in events])
        event = mine[0]
        start, end = event.decoded("dtstart"), event.decoded("dtend")
        assert isinstance(start, datetime)  # timed, not all-day
        assert start == starts
        assert end - start == timedelta(minutes=90)
        assert str(event["summary"]) == f"{case_id}: Rapid review meeting"
        assert str(event["location"]) == "Church Square House, room 2"
        assert all(reference not in str(e.get(k, "")) for e in events
                   for k in ("summary", "description", "location"))
    # The due dates stay all-day events beside it.
    assert any(not isinstance(e.decoded("dtstart"), datetime) for e in events
               if str(e["summary"]).startswith(case_id))

    auditor, auditor_csrf = browser_of("auditor")
    assert not [e for e in await feed_of(auditor, auditor_csrf)
                if "meeting" in str(e["summary"]).lower()]
    # Only the MARS team books, or cancels.
    ssl, ssl_csrf = browser_of("ssl", "health")
    assert (await ssl.post(f"/cases/{case_id}/meetings",
                           data=meeting_form(ssl_csrf, day))).status_code == 403
    meeting_id = re.search(rf"/cases/{case_id}/meetings/(\d+)/cancel", page.text)
    assert meeting_id is not None
    assert (await ssl.post(meeting_id.group(0), data={"csrf_token": ssl_csrf})
            ).status_code == 403
    assert (await mars.post(meeting_id.group(0), data={"csrf_token": csrf})).status_code == 303
    events = await feed_of(mars, csrf)
    assert not [e for e in events if str(e["summary"]) == f"{case_id}: Rapid review meeting"]
    assert "None booked." in (await mars.get(f"/cases/{case_id}")).text
    assert datetime.now(UTC) < starts

"""The bank holidays page (issue 10, "calendar changes for admins"): operations add a day, make
a standard one a working day and withdraw a change through the API's own functions, refused
with the API's words (and GOV.UK's for a date not given or not real); the page then lists the
due dates each change moved in the open cases. The MARS team reads it and changes nothing.
Through the real app (ASGI), dev server, worker and case store.

The case store is shared by the whole run: every change is withdrawn after the test; the
refusals work in 2097, which no other test counts in; the one change of this year is undone
at once (and withdrawing it tells every open case to count again)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from domain.calendar import WorkingDayCalendar, london_date
from tests.conftest import as_role
from tests.test_workspace_forms import browser_of, new_case, page_errors  # noqa: F401

ADMIN = as_role("admin")
PAGE = "/calendar/bank-holidays"


@pytest.fixture
async def clean(api: AsyncClient) -> AsyncIterator[None]:
    """Whatever a test changed is withdrawn after it, even if it fails."""
    yield
    this_year = london_date(datetime.now(UTC)).year
    for year in (2097, this_year, this_year + 1):
        listed = (await api.get("/v1/calendar/bank-holidays", params={"year": year},
                                headers=ADMIN)).json()
        for day in listed["days"]:
            if day["source"] != "standard":
                await api.delete(f"/v1/calendar/changes/{day['day']}", headers=ADMIN)


def date_form(csrf: str, prefix: str, day: str, month: str, year: str, text: str
              ) -> dict[str, str]:
    return {"csrf_token": csrf, "idempotency_key": str(uuid.uuid4()), f"{prefix}-day-day": day,
            f"{prefix}-day-month": month, f"{prefix}-day-year": year, f"{prefix}-text": text}


@pytest.mark.usefixtures("clean")
async def test_changes_are_refused_by_the_field_in_the_apis_words(
    api: AsyncClient, browser_of: Any,  # noqa: F811
) -> None:
    admin, csrf = browser_of("admin")
    page = await admin.get(f"{PAGE}?year=2097")
    assert page.status_code == 200
    assert "Spring Bank Holiday" in page.text
    assert 'name="add-day-day"' in page.text

    empty = await admin.post(PAGE, data=date_form(csrf, "add", "", "", "", ""))
    assert empty.status_code == 422
    assert page_errors(empty.text) == {"add-day": "Enter the date",
                                       "add-text": "Enter the bank holiday's name"}
    assert 'href="#add-day-day"' in empty.text  # the summary links to the first box
    partial = await admin.post(PAGE, data=date_form(csrf, "add", "12", "", "2097", "A day"))
    assert page_errors(partial.text) == {"add-day": "The date must include a month"}
    assert 'href="#add-day-month"' in partial.text
    assert 'value="12"' in partial.text  # what was typed stays in the boxes
    unreal = await admin.post(PAGE, data=date_form(csrf, "add", "30", "2", "2097", "A day"))
    assert page_errors(unreal.text) == {"add-day": "The date must be a real date"}
    assert "Bank holidays 2097" in unreal.text  # the year typed, under the form
    short = await admin.post(PAGE, data=date_form(csrf, "add", "3", "6", "97", "A day"))
    assert page_errors(short.text) == {"add-day": "Year must include 4 numbers"}

    # A Saturday, and a day that is no bank holiday: as the API refuses them, by the field.
    saturday = await admin.post(PAGE, data=date_form(csrf, "add", "15", "6", "2097", "A day"))
    saturday_api = await api.post("/v1/calendar/bank-holidays", headers=ADMIN,
                                  json={"day": "2097-06-15", "name": "A day"})
    assert saturday.status_code == saturday_api.status_code == 422
    assert page_errors(saturday.text) == {
        "add-day": saturday_api.json()["errors"][0]["reason"]}
    working = await admin.post(f"{PAGE}/removals",
                               data=date_form(csrf, "remove", "12", "6", "2097", "Why not"))
    working_api = await api.post("/v1/calendar/bank-holidays/removals", headers=ADMIN,
                                 json={"day": "2097-06-12", "reason": "Why not"})
    assert working.status_code == working_api.status_code == 422
    assert page_errors(working.text) == {
        "remove-day": working_api.json()["errors"][0]["reason"]}
    listed = (await api.get("/v1/calendar/bank-holidays", params={"year": 2097},
                            headers=ADMIN)).json()
    assert all(d["source"] == "standard" for d in listed["days"])  # nothing changed

    # The MARS team reads the page, without its forms, and may not post to them.
    mars, mars_csrf = browser_of("mars_team")
    read = await mars.get(f"{PAGE}?year=2097")
    assert read.status_code == 200
    assert "Spring Bank Holiday" in read.text
    assert "Add the bank holiday" not in read.text
    refused = await mars.post(PAGE, data=date_form(mars_csrf, "add", "13", "6", "2097", "A"))
    assert refused.status_code == 403
    forged = await admin.post(PAGE, data={**date_form(csrf, "add", "13", "6", "2097", "A"),
                                          "csrf_token": "not this session's"})
    assert forged.status_code == 403
    dsp, _ = browser_of("dsp", "health")
    assert (await dsp.get(PAGE)).status_code == 403
    assert f'href="{PAGE}"' not in (await dsp.get("/work")).text


async def _due(api: AsyncClient, case_id: str) -> dict[str, date]:
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    return {s["step"]: date.fromisoformat(s["due_date"]) for s in case["steps"]
            if s["due_date"] and s["status"] in ("pending", "overdue")}


@pytest.mark.usefixtures("clean")
async def test_a_day_added_shows_the_due_dates_it_moved_and_is_withdrawn(
    api: AsyncClient, browser_of: Any,  # noqa: F811
) -> None:
    case_id = await new_case(api)
    before = await _due(api, case_id)
    # The next working day: every open due date from it on moves a day later.
    day = WorkingDayCalendar().add_working_days(london_date(datetime.now(UTC)), 1)
    moving = {step for step, due in before.items() if due >= day}
    assert moving, before
    admin, csrf = browser_of("admin")
    added = await admin.post(PAGE, data=date_form(csrf, "add", str(day.day), str(day.month),
                                                  str(day.year), "A day announced late"))
    assert added.status_code == 303, added.text
    where = added.headers["location"]
    assert f"day={day.isoformat()}" in where
    assert "told=" in where

    page = await admin.get(where)
    assert "The calendar is changed" in page.text
    assert "A day announced late" in page.text
    for _ in range(100):  # the case counts again through its calendar activity
        page = await admin.get(where)
        if case_id in page.text:
            break
        await asyncio.sleep(0.2)
    moves = page.text[page.text.index('id="moves"'):]
    assert case_id in moves
    after = await _due(api, case_id)
    for step in moving:
        assert after[step] > before[step], (step, before[step], after[step])
        assert f"{before[step]} -&gt; {after[step]}" in moves or \
            f"{before[step]} -> {after[step]}" in moves

    withdrawn = await admin.post(f"{PAGE}/withdrawals", data={"csrf_token": csrf,
                                                              "day": day.isoformat()})
    assert withdrawn.status_code == 303
    for _ in range(100):
        if await _due(api, case_id) == before:
            break
        await asyncio.sleep(0.2)
    assert await _due(api, case_id) == before
    listed = (await api.get("/v1/calendar/bank-holidays", params={"year": day.year},
                            headers=ADMIN)).json()
    assert all(d["source"] == "standard" for d in listed["days"])
    assert timedelta(0) < day - london_date(datetime.now(UTC)) < timedelta(days=5)

"""Bank holidays operators add or remove, through the real API on PostgreSQL: refusals naming
the field and reason, withdrawal, the list with where each day came from, the calendar
activity and /working-days counting on them, and every open workflow told.

The case store is shared by the whole run: each test withdraws what it changed, and works in
a year (2097) no other test counts in. Expected dates are worked out by hand from a calendar.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from httpx import AsyncClient
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from activities.calendar import CalendarActivities, DateRequest, DatesInput
from domain.calendar import WorkingDayCalendar, london_date
from domain.case import ClockPoint
from store import calendar as store
from store.db import Sessionmaker
from tests.conftest import as_role

pytestmark = pytest.mark.usefixtures("clean")
ADMIN = as_role("admin")
# Wednesday 12 June 2097; Thursday 13 June is the next working day, Friday 14 the one after.
WEDNESDAY = date(2097, 6, 12)
SATURDAY = date(2097, 6, 15)
SPRING_BANK_HOLIDAY = date(2097, 5, 27)  # the last Monday of May


@pytest.fixture
async def clean(api: AsyncClient) -> AsyncIterator[None]:
    """Whatever a test changed in 2097 is withdrawn after it, even if it fails."""
    yield
    listed = (await api.get("/v1/calendar/bank-holidays", params={"year": 2097},
                            headers=ADMIN)).json()
    for day in listed["days"]:
        if day["source"] != "standard":
            await api.delete(f"/v1/calendar/changes/{day['day']}", headers=ADMIN)


async def working_day_after(api: AsyncClient, day: date) -> str:
    response = await api.get("/v1/calendar/working-days",
                             params={"start": day.isoformat(), "days": 1})
    assert response.status_code == 200, response.text
    result: str = response.json()["date"]
    return result


async def bank_holidays(api: AsyncClient, who: str = "auditor") -> dict[str, dict[str, Any]]:
    response = await api.get("/v1/calendar/bank-holidays", params={"year": 2097},
                             headers=as_role(who))
    assert response.status_code == 200, response.text
    assert response.json()["year"] == 2097
    return {d["day"]: d for d in response.json()["days"]}


def problem_fields(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {e["field"]: e["reason"] for e in response.json()["errors"]}


async def test_a_day_added_then_withdrawn(api: AsyncClient) -> None:
    assert await working_day_after(api, WEDNESDAY) == "2097-06-13"
    standard = await bank_holidays(api)
    assert standard["2097-05-27"] == {
        "day": "2097-05-27", "name": "Spring Bank Holiday", "source": "standard",
        "in_effect": True, "changed_by": None, "changed_at": None, "reason": None}

    added = await api.post("/v1/calendar/bank-holidays", headers=ADMIN,
                           json={"day": "2097-06-13", "name": " A jubilee "})
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["signal"] == {"day": "2097-06-13", "change": "added"}
    assert body["change"]["made_by"] == "admin-tester@cspr.test"
    assert (body["change"]["change"], body["change"]["name"]) == ("added", "A jubilee")
    assert body["told"] >= 0
    assert await working_day_after(api, WEDNESDAY) == "2097-06-14"
    listed = await bank_holidays(api, "mars_team")
    assert listed["2097-06-13"]["source"] == "added"
    assert listed["2097-06-13"]["changed_by"] == "admin-tester@cspr.test"
    assert list(listed) == sorted(listed)

    withdrawn = await api.delete("/v1/calendar/changes/2097-06-13", headers=ADMIN)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["signal"] == {"day": "2097-06-13", "change": "withdrawn"}
    assert withdrawn.json()["change"]["change"] == "added"
    assert await working_day_after(api, WEDNESDAY) == "2097-06-13"
    assert await bank_holidays(api) == standard


async def test_a_standard_day_removed_then_restored(api: AsyncClient) -> None:
    friday = date(2097, 5, 24)
    assert await working_day_after(api, friday) == "2097-05-28"  # over the weekend and Monday
    removed = await api.post("/v1/calendar/bank-holidays/removals", headers=ADMIN,
                             json={"day": SPRING_BANK_HOLIDAY.isoformat(),
                                   "reason": "Moved to the Friday"})
    assert removed.status_code == 201, removed.text
    assert removed.json()["signal"] == {"day": "2097-05-27", "change": "removed"}
    assert await working_day_after(api, friday) == "2097-05-27"
    listed = (await bank_holidays(api))["2097-05-27"]
    assert (listed["source"], listed["in_effect"], listed["reason"], listed["name"]) == (
        "removed", False, "Moved to the Friday", "Spring Bank Holiday")

    assert (await api.delete("/v1/calendar/changes/2097-05-27", headers=ADMIN)
            ).status_code == 200
    assert await working_day_after(api, friday) == "2097-05-28"


@pytest.mark.parametrize(("path", "body", "field", "reason"), [
    pytest.param("/v1/calendar/bank-holidays", {"day": SATURDAY.isoformat(), "name": "X"},
                 "day", "is a Saturday: never a working day", id="add-a-saturday"),
    pytest.param("/v1/calendar/bank-holidays",
                 {"day": SPRING_BANK_HOLIDAY.isoformat(), "name": "X"},
                 "day", "is already a bank holiday in England (Spring Bank Holiday)",
                 id="add-a-standard-one"),
    pytest.param("/v1/calendar/bank-holidays/removals",
                 {"day": WEDNESDAY.isoformat(), "reason": "X"},
                 "day", "is not a standard bank holiday in England (a day an operator added "
                        "is withdrawn instead)", id="remove-a-working-day"),
    pytest.param("/v1/calendar/bank-holidays", {"day": WEDNESDAY.isoformat()},
                 "name", "Field required", id="no-name"),
    pytest.param("/v1/calendar/bank-holidays", {"day": WEDNESDAY.isoformat(), "name": "  "},
                 "name", "String should have at least 1 character", id="blank-name"),
    pytest.param("/v1/calendar/bank-holidays", {"day": "2097-02-30", "name": "X"},
                 "day", "Input should be a valid date or datetime, day value is outside "
                        "expected range", id="no-such-date"),
    pytest.param("/v1/calendar/bank-holidays", {"day": "2200-06-12", "name": "X"},
                 "day", "Input should be less than or equal to 2199-12-31", id="too-far"),
    pytest.param("/v1/calendar/bank-holidays/removals",
                 {"day": SPRING_BANK_HOLIDAY.isoformat(), "reason": "X", "by": "me"},
                 "by", "Extra inputs are not permitted", id="unknown-field"),
])
async def test_bad_changes_are_refused_naming_the_field(
    api: AsyncClient, path: str, body: dict[str, Any], field: str, reason: str
) -> None:
    before = await bank_holidays(api)
    assert problem_fields(await api.post(path, json=body, headers=ADMIN), 422) == {
        field: reason}
    assert await bank_holidays(api) == before


async def test_a_day_changes_once_and_only_a_change_is_withdrawn(
    api: AsyncClient
) -> None:
    first = await api.post("/v1/calendar/bank-holidays", headers=ADMIN,
                           json={"day": WEDNESDAY.isoformat(), "name": "A jubilee"})
    assert first.status_code == 201, first.text
    again = await api.post("/v1/calendar/bank-holidays", headers=ADMIN,
                           json={"day": WEDNESDAY.isoformat(), "name": "Another"})
    reason = problem_fields(again, 409)["day"]
    assert reason.startswith("2097-06-12 was already added by admin-tester@cspr.test at ")
    assert reason.endswith("withdraw that change first")
    assert (await bank_holidays(api))["2097-06-12"]["name"] == "A jubilee"
    assert (await api.delete("/v1/calendar/changes/2097-06-12", headers=ADMIN)
            ).status_code == 200
    nothing = await api.delete("/v1/calendar/changes/2097-06-12", headers=ADMIN)
    assert nothing.status_code == 404, nothing.text
    assert nothing.json()["detail"] == "no change of the calendar on 2097-06-12"
    assert problem_fields(await api.delete("/v1/calendar/changes/not-a-day", headers=ADMIN),
                          422).keys() == {"day"}


async def test_a_repeat_with_the_same_key_is_answered_once(api: AsyncClient
                                                           ) -> None:
    headers = {**ADMIN, "Idempotency-Key": f"holiday-{datetime.now(UTC).timestamp()}"}
    body = {"day": WEDNESDAY.isoformat(), "name": "A jubilee"}
    first = await api.post("/v1/calendar/bank-holidays", headers=headers, json=body)
    repeat = await api.post("/v1/calendar/bank-holidays", headers=headers, json=body)
    assert (first.status_code, repeat.status_code) == (201, 201)
    assert repeat.json() == first.json()
    other = await api.post("/v1/calendar/bank-holidays", headers=headers,
                           json={**body, "name": "Another"})
    assert problem_fields(other, 422) == {"Idempotency-Key": "was used for a different request"}


async def test_only_operations_change_the_calendar(api: AsyncClient) -> None:
    for role in ("mars_team", "auditor", "board"):
        response = await api.post("/v1/calendar/bank-holidays", headers=as_role(role),
                                  json={"day": WEDNESDAY.isoformat(), "name": "X"})
        assert response.status_code == 403, response.text
    assert (await api.get("/v1/calendar/bank-holidays", headers=as_role("board"))
            ).status_code == 403
    this_year = await api.get("/v1/calendar/bank-holidays")
    assert this_year.status_code == 200, this_year.text
    assert this_year.json()["year"] == london_date(datetime.now(UTC)).year


async def test_the_calendar_activity_counts_on_the_changes(sessions: Sessionmaker) -> None:
    """The base calendar a worker is given (tests pass extra days) with the store's on top."""
    base = WorkingDayCalendar(extra_holidays=[date(2097, 6, 14)])
    activities = CalendarActivities(base, sessions)
    request = DatesInput(requests=[DateRequest(key="k", start=ClockPoint(on=WEDNESDAY),
                                               working_days=2)])
    before = (await activities.compute_dates(request)).get("k")
    assert before.due_date == date(2097, 6, 17)  # Thu 13, (Fri 14 the base's), Mon 17
    async with sessions.begin() as session:
        await store.add_holiday(session, date(2097, 6, 13), "A jubilee", "test",
                                datetime.now(UTC))
    try:
        after = (await activities.compute_dates(request)).get("k")
        assert after.due_date == date(2097, 6, 18)
        assert after.remind_at.date() == date(2097, 6, 17)
    finally:
        async with sessions.begin() as session:
            await store.withdraw(session, date(2097, 6, 13))
    assert (await activities.compute_dates(request)).get("k") == before


async def test_every_open_workflow_is_told(
    api: AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    created = await api.post("/v1/notifications", json={
        "notifying_agency": "Humberside Police",
        "incident": {"date": datetime.now(UTC).date().isoformat(), "harm": "serious_harm",
                     "abuse_or_neglect": "suspected"},
        "children": [{"reference": "NL-CAL-1"}]})
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    added = await api.post("/v1/calendar/bank-holidays", headers=ADMIN,
                           json={"day": WEDNESDAY.isoformat(), "name": "A jubilee"})
    assert added.status_code == 201, added.text
    result = added.json()
    assert result["told"] >= 1
    assert case_id not in result["unreachable"]
    assert "NL-CAL-1" not in added.text
    history = await dev_env.client.get_workflow_handle(case_id).fetch_history()
    signals = [e.workflow_execution_signaled_event_attributes.signal_name
               for e in history.events
               if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
    assert "calendar_changed" in signals

"""Review requests (Flowchart 4) through the real API, dev server and case store: the request,
its case number, its steps with the notification's roles and errors, and what the case shows of
its LCSPR and action plan (their own projections in the store)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from temporalio.testing import WorkflowEnvironment

from activities.case_store import PartProjectionInput, project_part
from store.cases import case_snapshot
from store.db import Sessionmaker
from tests.conftest import as_role

REFERENCE = "NL-REQ-API-7730"
PARTNERS = ("local_authority", "health", "police")
YEAR = datetime.now(UTC).year


def body(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "requesting_agency": "Northern Lincolnshire and Goole NHS Trust",
        "category": "poor_practice",
        "summary": "Discharge planning missed a safeguarding flag",
        "discussed_with_ssl": True,
        "children": [{"reference": REFERENCE, "date_of_birth": "2020-02-02"}],
    }
    request.update(overrides)
    return request


async def new_request(api: AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post("/v1/review-requests", json=body(**overrides))
    assert response.status_code == 201, response.text
    case: dict[str, Any] = response.json()
    return case


def number(case_id: str) -> int:
    return int(case_id.rsplit("-", 1)[1])


def assert_problem(response: Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]], problem
    assert REFERENCE not in response.text
    assert "Discharge planning" not in response.text
    return problem


async def record(api: AsyncClient, case_id: str, step: str, headers: dict[str, str] | None = None,
                 **fields: Any) -> Response:
    return await api.post(f"/v1/cases/{case_id}/{step}", json=fields, headers=headers)


async def test_a_request_opens_a_case_numbered_with_the_notifications(api: AsyncClient) -> None:
    notified = await api.post("/v1/notifications", json={
        "notifying_agency": "Humberside Police",
        "incident": {"date": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
                     "harm": "serious_harm", "abuse_or_neglect": "suspected"},
        "children": [{"reference": f"REQ-N-{uuid.uuid4().hex[:8]}"}]})
    assert notified.status_code == 201, notified.text
    response = await api.post("/v1/review-requests", json=body())
    assert response.status_code == 201, response.text
    case = response.json()
    assert re.fullmatch(rf"CSPR-{YEAR}-\d{{4}}", case["case_id"])
    assert number(case["case_id"]) == number(notified.json()["case_id"]) + 1
    assert response.headers["location"] == f"/v1/cases/{case['case_id']}"
    assert (case["kind"], case["stage"], case["outcome"]) == ("request", "requested", None)
    assert case["procedure_version"] == "nl-cspr-2025-06-request"
    assert case["notification"] is None
    assert case["request"]["category"] == "poor_practice"
    assert case["request"]["children"][0]["reference"] == REFERENCE
    assert [(s["step"], s["statutory"], s["status"]) for s in case["steps"]] == [
        ("inform_partners", False, "pending"), ("ssl_recommendation", False, "pending"),
        ("dsp_decision", False, "pending")]
    assert all(s["due_date"] for s in case["steps"])
    assert [e["kind"] for e in case["events"]] == ["requested"]
    assert (case["local_review"], case["action_plan"]) == (None, None)

    got = await api.get(f"/v1/cases/{case['case_id']}", headers=as_role("board"))
    assert got.status_code == 200
    assert got.json()["request"] == case["request"]
    listed = await api.get("/v1/cases", params={"kind": "request", "limit": 200})
    assert case["case_id"] in {c["case_id"] for c in listed.json()["items"]}
    events = await api.get(f"/v1/cases/{case['case_id']}/events")
    assert [(e["kind"], e["actor_role"], e["channel"]) for e in events.json()] == [
        ("requested", "mars_team", "api")]


@pytest.mark.parametrize(("overrides", "field"), [
    pytest.param({"discussed_with_ssl": False}, "discussed_with_ssl", id="not-discussed"),
    pytest.param({"category": "serious_incident"}, "category", id="category"),
    pytest.param({"summary": "  "}, "summary", id="blank-summary"),
    pytest.param({"children": []}, "children", id="no-child"),
    pytest.param({"children": [{"reference": f"R{i}"} for i in range(5)]}, "children",
                 id="five-children"),
    pytest.param({"children": [{"reference": "TWIN"}, {"reference": "TWIN"}]}, "children",
                 id="same-child-twice"),
    pytest.param({"children": [{"reference": "R1", "date_of_birth": "2999-01-01"}]},
                 "children", id="born-after-the-request"),
    pytest.param({"received_at": "2999-01-01T10:00:00Z"}, "received_at", id="future"),
    pytest.param({"received_at": "2026-01-01T10:00:00"}, "received_at", id="no-timezone"),
    pytest.param({"incident": {"date": "2026-01-01"}}, "incident", id="not-a-field"),
])
async def test_a_bad_request_is_422_naming_the_field_and_takes_no_number(
    api: AsyncClient, overrides: dict[str, Any], field: str,
) -> None:
    assert_problem(await api.post("/v1/review-requests", json=body(**overrides)), 422, field)


async def test_refused_requests_leave_no_gap_in_the_numbers(api: AsyncClient) -> None:
    first = await new_request(api)
    assert (await api.post("/v1/review-requests",
                           json=body(discussed_with_ssl=False))).status_code == 422
    forbidden = await api.post("/v1/review-requests", json=body(), headers=as_role("ssl",
                                                                                    "health"))
    assert_problem(forbidden, 403)
    second = await new_request(api)
    assert number(second["case_id"]) == number(first["case_id"]) + 1


async def test_the_same_idempotency_key_opens_one_case(api: AsyncClient) -> None:
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = await api.post("/v1/review-requests", json=body(), headers=key)
    again = await api.post("/v1/review-requests", json=body(), headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]


async def test_partners_agree_through_the_api_and_the_lcspr_starts(
    api: AsyncClient, dev_env: WorkflowEnvironment,
) -> None:
    case_id = (await new_request(api))["case_id"]
    assert_problem(await record(api, case_id, "ssl-recommendation", as_role("ssl", "police"),
                                criteria_met=True, rationale="Early"), 409)
    assert (await record(api, case_id, "inform-partners")).status_code == 200
    # Steps of the serious route are not a request's: 409, as a step not open.
    problem = assert_problem(await record(
        api, case_id, "panel-notification", notified_at=datetime.now(UTC).isoformat(),
        reference="CSPN-REQ-1"), 409)
    assert "not a step of a request case" in problem["detail"]
    assert_problem(await record(api, case_id, "rapid-review-submission"), 409)
    # The SSLs may not recommend a Panel notification for a request.
    assert_problem(await record(api, case_id, "ssl-recommendation", as_role("ssl", "police"),
                                criteria_met=True, recommend_panel_notification=True,
                                rationale="Learning"), 422, "recommend_panel_notification")
    assert_problem(await record(api, case_id, "ssl-recommendation", as_role("dsp", "police"),
                                criteria_met=True, rationale="Learning"), 403)
    ok = await record(api, case_id, "ssl-recommendation", as_role("ssl", "police"),
                      criteria_met=True, rationale="Learning for three agencies")
    assert ok.status_code == 200, ok.text
    assert ok.json()["stage"] == "dsp_decision"
    assert_problem(await record(api, case_id, "dsp-decision", as_role("dsp", "health"),
                                partner="police", criteria_met=True, rationale="x"), 403, "partner")
    for partner in PARTNERS:
        response = await record(api, case_id, "dsp-decision", as_role("dsp", partner),
                                partner=partner, criteria_met=True, rationale="Agreed")
        assert response.status_code == 200, response.text
    case = response.json()
    assert (case["stage"], case["outcome"]) == ("local_review", "local_review")
    assert [s["status"] for s in case["steps"]] == ["done", "done", "done"]
    # The case starts its LCSPR as a child once it has moved on.
    for _ in range(600):  # up to 30 s: a start, an activity and a projection under CI load
        case = (await api.get(f"/v1/cases/{case_id}")).json()
        if any(e["kind"] == "local_review_started" for e in case["events"]):
            break
        await asyncio.sleep(0.05)
    started = [e["detail"] for e in case["events"] if e["kind"] == "local_review_started"]
    assert started == [f"{case_id}-LCSPR"]
    child = await dev_env.client.get_workflow_handle(f"{case_id}-LCSPR").describe()
    assert (child.workflow_type, child.parent_id) == ("LocalReview", case_id)
    assert_problem(await record(api, case_id, "dsp-decision", as_role("dsp", "police"),
                                partner="police", criteria_met=False, rationale="Changed"), 409)
    await dev_env.client.get_workflow_handle(case_id).terminate("test over")


async def test_a_declined_request_closes_and_is_kept_in_the_store(
    api: AsyncClient, sessions: Sessionmaker,
) -> None:
    """Closed, it stays in the case store: the record once Temporal forgets it (the API's
    fallback to the store is tested in tests/test_case_store_api.py)."""
    case_id = (await new_request(api, category="good_practice"))["case_id"]
    await record(api, case_id, "inform-partners")
    await record(api, case_id, "ssl-recommendation", as_role("ssl", "health"),
                 criteria_met=False, recommend_panel_notification=False,
                 rationale="Learning already shared")
    for partner in PARTNERS:
        response = await record(api, case_id, "dsp-decision", as_role("dsp", partner),
                                partner=partner, criteria_met=False, rationale="Declined")
    assert (response.json()["stage"], response.json()["outcome"]) == ("closed",
                                                                      "review_not_agreed")
    assert_problem(await record(api, case_id, "inform-partners"), 409)
    async with sessions() as session:
        snapshot = await case_snapshot(session, case_id)
    assert snapshot is not None
    assert (snapshot["kind"], snapshot["stage"], snapshot["outcome"]) == (
        "request", "closed", "review_not_agreed")
    after = await api.get(f"/v1/cases/{case_id}")
    assert after.status_code == 200
    assert (after.json()["kind"], after.json()["stage"], after.json()["outcome"]) == (
        "request", "closed", "review_not_agreed")
    assert after.json()["request"]["category"] == "good_practice"


async def test_a_case_shows_its_children_and_is_overdue_if_they_are(
    api: AsyncClient, sessions: Sessionmaker,
) -> None:
    """Each child workflow projects itself to the store (`project_part`); the case reads it
    there, so it shows after Temporal forgets the children too."""
    case_id = (await new_request(api))["case_id"]
    in_a_week = datetime.now(UTC) + timedelta(days=7)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    parts = [("local_review", "review", True, in_a_week),
             ("action_plan", "monitoring", False, tomorrow)]
    async with sessions.begin() as session:
        for part, stage, overdue, deadline in parts:
            await project_part(session, PartProjectionInput(
                case_id=case_id, part=part, version=10**6, stage=stage, overdue=overdue,
                next_deadline=deadline, snapshot={}, events=[]))
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    assert case["local_review"] == {"workflow_id": f"{case_id}-LCSPR", "stage": "review",
                                    "next_deadline": in_a_week.isoformat().replace("+00:00", "Z"),
                                    "overdue": True}
    assert case["action_plan"]["workflow_id"] == f"{case_id}-ACTION-PLAN"
    assert not any(s["status"] == "overdue" for s in case["steps"])
    # The case as a whole: overdue because its LCSPR is; its next deadline the earliest.
    assert case["overdue"] is True
    assert datetime.fromisoformat(case["next_deadline"]) <= tomorrow

    async def listed(**params: Any) -> dict[str, Any]:
        page = (await api.get("/v1/cases", params={"limit": 200, **params})).json()
        return {c["case_id"]: c for c in page["items"]}

    late = await listed(overdue="true")
    assert late[case_id]["overdue"] is True
    assert datetime.fromisoformat(late[case_id]["next_deadline"]) <= tomorrow
    assert case_id not in await listed(overdue="false")


async def test_a_closed_case_is_not_overdue_for_a_part_it_left_behind(
    api: AsyncClient, sessions: Sessionmaker,
) -> None:
    """A review cancelled with its case may have last projected itself overdue: the case is
    over, and lists and reads say so."""
    case_id = (await new_request(api))["case_id"]
    await record(api, case_id, "inform-partners")
    await record(api, case_id, "ssl-recommendation", as_role("ssl", "health"),
                 criteria_met=False, rationale="Learning already shared")
    for partner in PARTNERS:
        await record(api, case_id, "dsp-decision", as_role("dsp", partner), partner=partner,
                     criteria_met=False, rationale="Declined")
    async with sessions.begin() as session:
        await project_part(session, PartProjectionInput(
            case_id=case_id, part="local_review", version=10**6, stage="review", overdue=True,
            next_deadline=datetime.now(UTC) - timedelta(days=1), snapshot={}, events=[]))
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    assert (case["stage"], case["overdue"], case["next_deadline"]) == ("closed", False, None)
    assert case["local_review"]["overdue"] is True  # as it last projected itself
    page = (await api.get("/v1/cases", params={"overdue": "true", "limit": 200})).json()
    assert case_id not in {c["case_id"] for c in page["items"]}

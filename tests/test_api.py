"""The API against the real dev server and worker: a whole case, and every kind of refusal."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api import errors
from api.app import create_app
from domain.decisions import RECORD_TYPES
from infra.settings import Settings
from infra.temporal import data_converter
from store.db import Sessionmaker
from tests.conftest import CODEC, TEST_JWT_SECRET, TEST_KEYS, as_role, http_client

REFERENCE = "NL-REF-API-5521"
PARTNERS = ("local_authority", "health", "police")
SSL = as_role("ssl", "health")


def dsp(partner: str) -> dict[str, str]:
    return as_role("dsp", partner)


def body(**overrides: Any) -> dict[str, Any]:
    notification: dict[str, Any] = {
        "notifying_agency": "North Lincolnshire Council",
        "incident": {"date": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
                     "harm": "death", "abuse_or_neglect": "suspected"},
        "children": [{"reference": REFERENCE, "date_of_birth": "2018-05-01"}],
    }
    notification.update(overrides)
    return notification


async def new_case(api: AsyncClient, **overrides: Any) -> str:
    response = await api.post("/v1/notifications", json=body(**overrides))
    assert response.status_code == 201, response.text
    case_id: str = response.json()["case_id"]
    return case_id


async def post(api: AsyncClient, case_id: str, step: str,
               headers: dict[str, str] | None = None, **fields: Any) -> Response:
    """Record a step, as the MARS team unless `headers` carry another role's token."""
    return await api.post(f"/v1/cases/{case_id}/{step}", json=fields, headers=headers)


async def ok(api: AsyncClient, case_id: str, step: str,
             headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    response = await post(api, case_id, step, headers, **fields)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def steps(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in case["steps"]}


def assert_problem(response: Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["title"]
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]], problem
    assert REFERENCE not in response.text
    return problem


async def test_notification_starts_a_case_with_its_due_dates(api: AsyncClient) -> None:
    response = await api.post("/v1/notifications", json=body())
    assert response.status_code == 201
    case = response.json()
    assert response.headers["location"] == f"/v1/cases/{case['case_id']}"
    assert case["case_id"].startswith(f"CSPR-{datetime.now(UTC).year}-")
    assert case["stage"] == "notified"
    by_step = steps(case)
    received = datetime.fromisoformat(case["clocks"]["R"]).date()
    for step, days in (("inform_partners", 1), ("ssl_recommendation", 3),
                       ("dsp_decision", 4), ("panel_notification", 5)):
        expected = (await api.get("/v1/calendar/working-days",
                                  params={"start": received.isoformat(), "days": days})).json()
        assert by_step[step]["due_date"] == expected["date"]
        assert by_step[step]["status"] == "pending"
    assert by_step["panel_notification"]["statutory"] is True
    assert by_step["ssl_recommendation"]["statutory"] is False
    assert by_step["rapid_review_submission"]["deadlines"] == [
        {"kind": "local", "clock": "D", "working_days": 15, "due_date": None},
        {"kind": "statutory", "clock": "P", "working_days": 15, "due_date": None},
    ]
    got = (await api.get(f"/v1/cases/{case['case_id']}")).json()
    assert got["steps"] == case["steps"]
    assert got["notification"]["children"][0]["reference"] == REFERENCE


@pytest.mark.parametrize(("overrides", "field"), [
    ({"received_at": "2099-01-01T09:00:00Z"}, "received_at"),
    ({"received_at": "2026-01-01T09:00:00"}, "received_at"),
    ({"children": []}, "children"),
    ({"children": [{"reference": f"R{i}"} for i in range(5)]}, "children"),
    ({"incident": {"date": "2026-01-01", "abuse_or_neglect": "known"}}, "incident.harm"),
    ({"incident": {"date": "2026-01-01", "harm": "bruise", "abuse_or_neglect": "known"}},
     "incident.harm"),
    ({"children": [{"reference": REFERENCE, "name": "A Child"}]}, "children.0.name"),
    ({"case_id": "case-1"}, "case_id"),
    ({"notifying_agency": ""}, "notifying_agency"),
])
async def test_bad_notification_is_refused_naming_the_field(
    api: AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    assert_problem(await api.post("/v1/notifications", json=body(**overrides)), 422, field)


async def test_bad_notification_consistency_is_refused(api: AsyncClient) -> None:
    problem = assert_problem(await api.post("/v1/notifications", json=body(
        incident={"date": "2026-11-01", "harm": "death", "abuse_or_neglect": "known"},
        children=[{"reference": "A1"}, {"reference": "A1"}])), 422)
    assert "reference" in problem["detail"]


async def test_a_second_start_of_the_same_case_is_refused(api: AsyncClient) -> None:
    case_id = f"CSPR-2019-{datetime.now(UTC).strftime('%H%M%S%f')[:12]}"
    await new_case(api, case_id=case_id, received_at="2019-12-02T10:00:00Z",
                   incident={"date": "2019-11-30", "harm": "death",
                             "abuse_or_neglect": "known"})
    problem = assert_problem(
        await api.post("/v1/notifications", json=body(case_id=case_id)), 409)
    assert case_id in problem["detail"]


async def test_a_whole_case_through_the_api_to_the_rapid_review_outcome(api: AsyncClient) -> None:
    case_id = await new_case(api)
    await ok(api, case_id, "inform-partners")
    await ok(api, case_id, "ssl-recommendation", SSL, criteria_met=True,
             recommend_panel_notification=True, rationale="Criteria met")
    for partner in PARTNERS:
        case = await ok(api, case_id, "dsp-decision", dsp(partner), partner=partner,
                        criteria_met=True, rationale="Agreed")
    assert case["stage"] == "rapid_review"
    assert steps(case)["agency_requests"]["due_date"] is not None
    assert [p["party"] for p in steps(case)["dsp_decision"]["parties"]] == list(PARTNERS)
    # Statutory: the local authority notifies the Panel.
    await ok(api, case_id, "panel-notification", dsp("local_authority"),
             notified_at=datetime.now(UTC).isoformat(), reference="CSPN-2026-123")
    await ok(api, case_id, "agency-requests", agencies=["Council", "Police", "NHS Trust"])
    # An agency returns its own report (its name in any case); the MARS team records the rest.
    await ok(api, case_id, "agency-reports", as_role("agency", "POLICE"), agency="Police")
    for agency in ("council", "NHS Trust"):
        case = await ok(api, case_id, "agency-reports", agency=agency)
    assert steps(case)["agency_reports"]["status"] == "done"
    await ok(api, case_id, "rapid-review-meeting", recommendations=["Joint training"],
             outcome="no_further_review", rationale="Learning is already in hand")
    await ok(api, case_id, "rapid-review-report")
    for partner in PARTNERS:
        await ok(api, case_id, "rapid-review-signoff", dsp(partner), partner=partner)
    await ok(api, case_id, "wellbeing-sessions", relevant=True)
    case = await ok(api, case_id, "rapid-review-submission")
    assert case["stage"] == "awaiting_panel_response"
    assert steps(case)["rapid_review_submission"]["deadlines"][1]["due_date"] is not None
    case = await ok(api, case_id, "panel-response", decision="more_information_requested")
    assert case["stage"] == "awaiting_panel_response"
    # From procedure r5 the information asked for is a step, due on the service's own target.
    assert steps(case)["panel_information"]["status"] == "pending"
    assert steps(case)["panel_information"]["due_date"] is not None
    await ok(api, case_id, "panel-information", what="The health chronology",
             sent_to="Mailbox.NationalReviewPanel@education.gov.uk",
             sent_at=datetime.now(UTC).isoformat())
    case = await ok(api, case_id, "panel-response", decision="no_national_review")
    assert case["stage"] == "closed"
    assert case["outcome"] == "no_further_review"
    done = {s["step"]: s["status"] for s in case["steps"]}
    notices = {"notify_secretary_of_state", "notify_ofsted", "home_office_contribution",
               "notify_home_office",  # no looked after child or care leaver died
               # The rapid review recommended no national review: nothing for the partners
               # to decide after the Panel's answer.
               "local_review_decision"}
    assert {done.pop(step) for step in notices} == {"not_required"}
    assert set(done.values()) == {"done"}, done
    assert all(s["completed_on"] for s in case["steps"] if s["step"] not in notices)
    # The closed case still answers, and refuses any further record.
    await asyncio.sleep(0.2)
    assert (await api.get(f"/v1/cases/{case_id}")).json()["stage"] == "closed"
    problem = assert_problem(await post(api, case_id, "wellbeing-sessions", relevant=False), 409)
    assert "closed" in problem["detail"]


async def test_steps_out_of_turn_are_409_and_bad_content_422(api: AsyncClient) -> None:
    case_id = await new_case(api)
    assert_problem(await post(api, case_id, "dsp-decision", dsp("police"), partner="police",
                              criteria_met=True, rationale="x"), 409, "step")
    assert_problem(await post(api, case_id, "rapid-review-submission"), 409)
    await ok(api, case_id, "inform-partners")
    assert_problem(await post(api, case_id, "inform-partners"), 409)
    assert_problem(await post(api, case_id, "ssl-recommendation", SSL, criteria_met=True,
                              recommend_panel_notification=True, rationale=""), 422, "rationale")
    assert_problem(await post(api, case_id, "ssl-recommendation", SSL, criteria_met=True,
                              recommend_panel_notification=True, rationale="x",
                              completed_on="2001-01-01"), 422, "completed_on")
    assert_problem(await post(api, case_id, "ssl-recommendation", SSL, criteria_met="maybe",
                              recommend_panel_notification=True, rationale="x"),
                   422, "criteria_met")
    await ok(api, case_id, "ssl-recommendation", SSL, criteria_met=True,
             recommend_panel_notification=True, rationale="x")
    assert_problem(await post(api, case_id, "panel-notification", reference="X",
                              notified_at=datetime.now(UTC).isoformat(),
                              completed_on="2026-01-01"), 422, "completed_on")
    assert_problem(await post(api, case_id, "dsp-decision", dsp("police"), partner="fire_service",
                              criteria_met=True, rationale="x"), 422, "partner")
    await ok(api, case_id, "dsp-decision", dsp("police"), partner="police", criteria_met=True,
             rationale="x")
    assert_problem(await post(api, case_id, "dsp-decision", dsp("police"), partner="police",
                              criteria_met=True, rationale="x"), 409)
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    assert case["stage"] == "dsp_decision"
    assert [e["step"] for e in case["events"] if e["kind"] == "recorded"] == [
        "inform_partners", "ssl_recommendation", "dsp_decision"]


async def test_unknown_case_is_404_and_a_malformed_id_422(api: AsyncClient) -> None:
    assert_problem(await api.get("/v1/cases/CSPR-2026-NOSUCH"), 404)
    assert_problem(await post(api, "CSPR-2026-NOSUCH", "inform-partners"), 404)
    assert_problem(await api.get("/v1/cases/not-a-case"), 422, "case_id")


async def test_partners_who_disagree_then_agree(api: AsyncClient) -> None:
    case_id = await new_case(api)
    await ok(api, case_id, "inform-partners")
    await ok(api, case_id, "ssl-recommendation", SSL, criteria_met=True,
             recommend_panel_notification=True, rationale="x")
    await ok(api, case_id, "dsp-decision", dsp("local_authority"), partner="local_authority",
             criteria_met=True, rationale="Met")
    await ok(api, case_id, "dsp-decision", dsp("health"), partner="health", criteria_met=False,
             rationale="Not met")
    case = await ok(api, case_id, "dsp-decision", dsp("police"), partner="police",
                    criteria_met=False, rationale="Not met")
    assert case["stage"] == "difference_of_opinion"
    assert any(e["kind"] == "difference_of_opinion" for e in case["events"])
    case = await ok(api, case_id, "dsp-decision", dsp("local_authority"),
                    partner="local_authority", criteria_met=False,
                    rationale="Persuaded: accidental")
    assert case["stage"] == "closed"
    assert case["outcome"] == "criteria_not_met"
    assert steps(case)["panel_notification"]["status"] == "not_required"


@pytest.mark.parametrize(("start", "days", "expected"), [
    ("2026-12-24", 1, "2026-12-29"),  # Christmas Friday, Boxing Day substitute Monday
    ("2027-03-25", 1, "2027-03-30"),  # Good Friday and Easter Monday
    ("2026-11-27", 0, "2026-11-27"),
])
async def test_working_days(api: AsyncClient, start: str, days: int, expected: str) -> None:
    response = await api.get("/v1/calendar/working-days", params={"start": start, "days": days})
    assert response.json() == {"date": expected}


async def test_working_days_refuses_bad_input(api: AsyncClient) -> None:
    assert_problem(await api.get("/v1/calendar/working-days",
                                 params={"start": "2026-02-30", "days": 1}), 422, "start")
    assert_problem(await api.get("/v1/calendar/working-days",
                                 params={"start": "2026-02-01", "days": 9999}), 422, "days")
    assert_problem(await api.get("/v1/calendar/working-days",
                                 params={"start": "2026-02-01", "days": -1}), 422, "days")


async def test_health_and_readiness(api: AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    assert (await api.get("/readyz")).json() == {"status": "ready"}


async def test_not_ready_without_temporal() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    client = await Client.connect(f"127.0.0.1:{port}", lazy=True,
                                  data_converter=data_converter(CODEC))
    app = create_app(Settings(encryption_keys=TEST_KEYS, jwt_secret=TEST_JWT_SECRET), client)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://cspr.test",
                    headers=as_role("mars_team")) as http,
    ):
        assert (await http.get("/healthz")).status_code == 200
        response = await http.get("/readyz")
        assert_problem(response, 503)
        assert response.headers["retry-after"]
        response = await http.post("/v1/notifications", json=body())
        assert_problem(response, 503)


async def test_openapi_documents_every_step(api: AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    for record_type in RECORD_TYPES:
        step = record_type.model_fields["step"].default.replace("_", "-")
        operation = spec["paths"][f"/v1/cases/{{case_id}}/{step}"]["post"]
        assert {"200", "401", "403", "404", "409", "422"} <= set(operation["responses"])
        assert operation["description"]
        assert operation["security"] == [{"HTTPBearer": []}]
        schema_name = operation["requestBody"]["content"]["application/json"]["schema"][
            "$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][schema_name]
        required = set(schema.get("required", [])) - {"step"}
        if required:  # a body with fields to fill shows a partner system an example
            assert required <= set(schema["examples"][0]), schema_name


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/calendar/working-days?start=9999-12-24&days=10", "start"),
    ("/v1/calendar/working-days?start=0001-01-01&days=1", "start"),
])
async def test_dates_out_of_range_are_422_not_500(api: AsyncClient, path: str,
                                                  field: str) -> None:
    assert_problem(await api.get(path), 422, field)


async def test_an_ancient_receipt_is_422_not_500(api: AsyncClient) -> None:
    response = await api.post("/v1/notifications", json=body(received_at="0001-01-01T00:00:00Z"))
    assert_problem(response, 422, "received_at")


async def test_no_worker_answering_is_503_not_a_hang(
    api_app: FastAPI, dev_env: WorkflowEnvironment, sessions: Sessionmaker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(errors, "TEMPORAL_TIMEOUT", 1.0)
    settings = Settings(encryption_keys=TEST_KEYS, jwt_secret=TEST_JWT_SECRET,
                        task_queue=f"nobody-polls-{datetime.now(UTC).timestamp()}")
    app = create_app(settings, dev_env.client, sessions)
    async with app.router.lifespan_context(app), http_client(app, as_role("mars_team")) as http:
        response = await http.post("/v1/notifications", json=body())
    problem = assert_problem(response, 503)
    assert "did not answer in time" in problem["detail"]
    assert response.headers["retry-after"]
    assert api_app is not None

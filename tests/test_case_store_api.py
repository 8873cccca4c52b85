"""The partner contract on the case store: case numbers, idempotency, lists, audit trail,
deadlines, the record after Temporal forgets a case, and 503 when the store is down."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.schemas import CaseSummary
from domain.case import Stage
from infra.settings import Settings
from store.db import make_engine, make_sessionmaker
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS, as_role, http_client

SSL = as_role("ssl", "health")


def notification(reference: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "notifying_agency": "North Lincolnshire Council",
        "incident": {"date": (datetime.now(UTC) - timedelta(days=3)).date().isoformat(),
                     "harm": "serious_harm", "abuse_or_neglect": "suspected"},
        "children": [{"reference": reference or f"REF-{uuid.uuid4().hex[:10]}"}],
    }
    body.update(overrides)
    return body


async def new_case(api: AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post("/v1/notifications", json=notification(**overrides))
    assert response.status_code == 201, response.text
    case: dict[str, Any] = response.json()
    return case


async def test_case_numbers_are_consecutive_without_gaps_or_races(api: AsyncClient) -> None:
    responses = await asyncio.gather(*(api.post("/v1/notifications", json=notification())
                                       for _ in range(5)))
    assert [r.status_code for r in responses] == [201] * 5
    ids = sorted(r.json()["case_id"] for r in responses)
    year = datetime.now(UTC).year
    assert all(re.fullmatch(rf"CSPR-{year}-\d{{4}}", i) for i in ids), ids
    numbers = [int(i.rsplit("-", 1)[1]) for i in ids]
    assert numbers == list(range(numbers[0], numbers[0] + 5))
    # A refused notification takes no number.
    bad = await api.post("/v1/notifications", json=notification(children=[]))
    assert bad.status_code == 422
    after = await new_case(api)
    assert int(after["case_id"].rsplit("-", 1)[1]) == numbers[-1] + 1


async def test_same_idempotency_key_and_body_give_the_same_case_once(api: AsyncClient) -> None:
    body, key = notification(), f"key-{uuid.uuid4()}"
    first = await api.post("/v1/notifications", json=body, headers={"Idempotency-Key": key})
    again = await api.post("/v1/notifications", json=body, headers={"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    other = await api.post("/v1/notifications", json=notification(),
                           headers={"Idempotency-Key": key})
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    listed = (await api.get("/v1/cases", params={"limit": 200})).json()
    assert [c["case_id"] for c in listed["items"]].count(first.json()["case_id"]) == 1


async def test_a_repeated_decision_gets_the_first_answer(api: AsyncClient) -> None:
    case_id = (await new_case(api))["case_id"]
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = await api.post(f"/v1/cases/{case_id}/inform-partners", json={}, headers=key)
    again = await api.post(f"/v1/cases/{case_id}/inform-partners", json={}, headers=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    # Without the key, the same decision is simply refused as already recorded.
    plain = await api.post(f"/v1/cases/{case_id}/inform-partners", json={})
    assert plain.status_code == 409
    # A refusal is kept too: the same key gives the same 409.
    key2 = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    refused = await api.post(f"/v1/cases/{case_id}/inform-partners", json={}, headers=key2)
    refused_again = await api.post(f"/v1/cases/{case_id}/inform-partners", json={},
                                   headers=key2)
    assert (refused.status_code, refused_again.status_code) == (409, 409)
    assert refused_again.headers["content-type"] == "application/problem+json"


async def test_lists_filter_and_page_from_the_case_store(api: AsyncClient) -> None:
    twenty_days_ago = datetime.now(UTC) - timedelta(days=20)
    late = await new_case(api, received_at=twenty_days_ago.isoformat(), incident={
        "date": (twenty_days_ago - timedelta(days=1)).date().isoformat(), "harm": "death",
        "abuse_or_neglect": "known"})
    fresh = await new_case(api)
    await api.post(f"/v1/cases/{fresh['case_id']}/inform-partners", json={})

    async def ids(**params: Any) -> set[str]:
        response = await api.get("/v1/cases", params={"limit": 200, **params})
        assert response.status_code == 200, response.text
        return {c["case_id"] for c in response.json()["items"]}

    assert late["case_id"] in await ids(overdue="true")
    assert fresh["case_id"] not in await ids(overdue="true")
    assert fresh["case_id"] in await ids(stage="ssl_recommendation")
    assert late["case_id"] not in await ids(stage="ssl_recommendation")
    soon = date.fromisoformat(fresh["steps"][1]["due_date"])
    assert fresh["case_id"] in await ids(due_before=soon.isoformat())
    assert fresh["case_id"] not in await ids(due_before=(soon - timedelta(days=20)).isoformat())
    assert late["case_id"] in await ids(due_before=date.today().isoformat(),
                                        kind="serious_incident")

    page = (await api.get("/v1/cases", params={"limit": 1, "offset": 0})).json()
    assert len(page["items"]) == 1
    assert page["total"] >= 2
    assert (await api.get("/v1/cases", params={"limit": 0})).status_code == 422
    assert (await api.get("/v1/cases", params={"stage": "nowhere"})).status_code == 422


async def test_the_audit_trail_says_who_did_what_and_how(api: AsyncClient) -> None:
    case_id = (await new_case(api))["case_id"]
    await api.post(f"/v1/cases/{case_id}/inform-partners", json={})
    await api.post(f"/v1/cases/{case_id}/ssl-recommendation", headers=SSL, json={
        "criteria_met": True, "recommend_panel_notification": True, "rationale": "Met"})
    response = await api.get(f"/v1/cases/{case_id}/events", headers=as_role("auditor"))
    assert response.status_code == 200
    recorded = [(e["step"], e["actor_role"], e["actor_organisation"], e["channel"])
                for e in response.json() if e["kind"] == "recorded"]
    assert recorded == [("inform_partners", "mars_team", None, "api"),
                        ("ssl_recommendation", "ssl", "health", "api")]
    sequences = [e["sequence"] for e in response.json()]
    assert sequences == list(range(1, len(sequences) + 1))
    assert (await api.get("/v1/cases/CSPR-2026-NOSUCH/events")).status_code == 404
    agency = await api.get(f"/v1/cases/{case_id}/events", headers=as_role("agency", "NHS"))
    assert agency.status_code == 403


async def test_deadlines_for_the_week(api: AsyncClient) -> None:
    case = await new_case(api)
    due = {s["step"]: s["due_date"] for s in case["steps"]}
    start = date.fromisoformat(due["inform_partners"])
    response = await api.get("/v1/deadlines", params={
        "from": start.isoformat(), "to": (start + timedelta(days=7)).isoformat()})
    assert response.status_code == 200
    mine = [(d["step"], d["due_date"], d["statutory"]) for d in response.json()
            if d["case_id"] == case["case_id"]]
    assert ("inform_partners", due["inform_partners"], False) in mine
    assert ("panel_notification", due["panel_notification"], True) in mine
    assert [d["due_date"] for d in response.json()] == sorted(d["due_date"]
                                                            for d in response.json())
    backwards = await api.get("/v1/deadlines", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert backwards.status_code == 422


async def test_a_likely_duplicate_is_flagged_to_the_mars_team(api: AsyncClient) -> None:
    reference = f"DUP-{uuid.uuid4().hex[:10]}"
    first = await new_case(api, reference=reference)
    second = await new_case(api, reference=reference)
    flags = [e for e in second["events"] if e["kind"] == "possible_duplicate"]
    assert [f["detail"] for f in flags] == [first["case_id"]]
    listed = (await api.get("/v1/cases", params={"limit": 200})).json()["items"]
    by_id = {c["case_id"]: c for c in listed}
    assert by_id[second["case_id"]]["possible_duplicate_of"] == [first["case_id"]]
    assert by_id[first["case_id"]]["possible_duplicate_of"] == []


async def test_the_store_answers_for_a_case_temporal_no_longer_holds(
    api: AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    case = await new_case(api)
    case_id = case["case_id"]
    await api.post(f"/v1/cases/{case_id}/inform-partners", json={})
    before = (await api.get(f"/v1/cases/{case_id}")).json()
    await dev_env.client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(namespace=dev_env.client.namespace,
                                       workflow_execution=WorkflowExecution(workflow_id=case_id)))
    for _ in range(600):  # deletion is asynchronous: up to a minute under load
        try:
            await dev_env.client.get_workflow_handle(case_id).describe()
        except Exception:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the workflow was never deleted")
    after = await api.get(f"/v1/cases/{case_id}")
    assert after.status_code == 200
    assert after.json()["stage"] == before["stage"] == "ssl_recommendation"
    assert after.json()["steps"] == before["steps"]


async def test_503_with_retry_after_when_the_store_is_down(
    api_app: FastAPI, dev_env: WorkflowEnvironment
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/nowhere")
    app = create_app(Settings(encryption_keys=TEST_KEYS, jwt_secret=TEST_JWT_SECRET),
                     dev_env.client, make_sessionmaker(engine))
    async with app.router.lifespan_context(app), http_client(app, as_role("mars_team")) as http:
        for path in ("/v1/cases", "/v1/deadlines?from=2026-01-01&to=2026-01-02"):
            response = await http.get(path)
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"]
            assert response.headers["content-type"] == "application/problem+json"
        response = await http.post("/v1/notifications", json=notification())
        assert response.status_code == 503
    await engine.dispose()
    assert api_app is not None


def test_times_from_a_store_that_drops_the_zone_are_read_as_utc() -> None:
    """SQLite (make run's store) returns stored UTC times without their zone."""
    naive = datetime(2026, 11, 27, 13, 56)
    summary = CaseSummary(case_id="CSPR-2026-0001", kind="serious_incident",
                          stage=Stage.NOTIFIED, outcome=None, overdue=False,
                          next_deadline=naive, received_at=naive, possible_duplicate_of=[])
    assert summary.received_at == naive.replace(tzinfo=UTC)
    assert summary.model_dump(mode="json")["next_deadline"] == "2026-11-27T13:56:00Z"

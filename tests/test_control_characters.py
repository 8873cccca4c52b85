"""One character must not break a case: control characters (NUL and the other C0 controls but
tab and line feed; CR only in CR LF) and lone surrogates are refused in every text field of
every request and message, with a 422 naming the field, and nothing is recorded."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.decisions import DecisionMessage
from domain.text import clean_line, clean_text
from tests.conftest import as_role

# Checked otherwise: the codec session's token is a JWT, refused whole (401) if malformed.
NOT_TEXT = {"post /v1/codec/session.token"}


def _text_fields_without_a_check() -> list[str]:
    document = create_app().openapi()
    schemas = document["components"]["schemas"]
    found: list[str] = []

    def walk(schema: dict[str, Any], where: str) -> None:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
        for key in ("anyOf", "oneOf", "allOf"):
            for option in schema.get(key, []):
                walk(option, where)
        for name, field in schema.get("properties", {}).items():
            walk(field, f"{where}.{name}")
        if isinstance(schema.get("additionalProperties"), dict):
            walk(schema["additionalProperties"], f"{where}.*")
        if schema.get("type") == "array" and "items" in schema:
            walk(schema["items"], f"{where}[]")
        constrained = ("enum", "const", "format", "pattern", "x-text")
        if schema.get("type") == "string" and not any(k in schema for k in constrained):
            found.append(where)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content["schema"], f"{method} {path}")
            for parameter in operation.get("parameters", []):
                walk(parameter["schema"], f"{method} {path} {parameter['in']}:{parameter['name']}")
    return sorted(set(found) - NOT_TEXT)


def test_every_text_field_of_every_request_is_checked() -> None:
    """Every string a request carries is an enum, a date, a pattern, or checked text."""
    assert _text_fields_without_a_check() == []


@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "a\x7f\x08b", "a\rb", "a\udc00b"])
def test_multi_line_text_refuses_controls_and_surrogates(value: str) -> None:
    with pytest.raises(ValueError, match="contains a"):
        clean_text(value)


def test_multi_line_text_keeps_tabs_and_line_breaks() -> None:
    assert clean_text("one\ttwo\r\nthree\nfour") == "one\ttwo\nthree\nfour"


@pytest.mark.parametrize("value", ["a\nb", "a\tb", "a\r\nb"])
def test_a_name_is_one_line(value: str) -> None:
    with pytest.raises(ValueError, match="single line"):
        clean_line(value)


def _notification(**incident: Any) -> dict[str, Any]:
    return {
        "notifying_agency": "Humberside Police",
        "incident": {"date": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
                     "harm": "serious_harm", "abuse_or_neglect": "suspected", **incident},
        "children": [{"reference": f"CTRL-{uuid.uuid4().hex[:8]}"}],
    }


def _fields(response: Any) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "\x00" not in response.text
    return {e["field"] for e in response.json()["errors"]}


async def test_a_notification_with_a_nul_is_refused_naming_the_field(api: AsyncClient) -> None:
    assert _fields(await api.post("/v1/notifications", json=_notification(
        summary="Bruising\x00"))) == {"incident.summary"}
    body = _notification()
    body["notifying_agency"] = "Humberside\nPolice"
    assert _fields(await api.post("/v1/notifications", json=body)) == {"notifying_agency"}
    body["notifying_agency"] = "Humberside \udc00Police"  # sent as JSON's "\udc00"
    assert _fields(await api.post("/v1/notifications", content=json.dumps(body),
                                  headers={"content-type": "application/json"})
                   ) == {"notifying_agency"}
    # CR LF from a browser's text area is taken, as a line feed.
    taken = await api.post("/v1/notifications", json=_notification(summary="One\r\nTwo"))
    assert taken.status_code == 201, taken.text


async def test_records_and_differences_with_a_nul_are_refused_and_change_nothing(
    api: AsyncClient,
) -> None:
    case_id = (await api.post("/v1/notifications", json=_notification())).json()["case_id"]
    ssl = as_role("ssl", "health")
    refused = await api.post(f"/v1/cases/{case_id}/ssl-recommendation", headers=ssl, json={
        "criteria_met": True, "recommend_panel_notification": True, "rationale": "Met\x00"})
    assert _fields(refused) == {"rationale"}
    difference = await api.post(f"/v1/cases/{case_id}/differences-of-opinion", headers=ssl,
                                json={"subject": "criteria", "summary": "We differ\x00"})
    assert _fields(difference) == {"summary"}
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    assert {s["step"]: s["status"] for s in case["steps"]}["ssl_recommendation"] == "pending"
    listed = (await api.get(f"/v1/cases/{case_id}/differences-of-opinion")).json()
    assert listed["differences"] == []


async def test_directory_and_query_text_with_controls_is_refused(api: AsyncClient) -> None:
    organisation = await api.post("/v1/directory/organisations", json={
        "name": "Trust\x00", "kind": "agency"})
    assert _fields(organisation) == {"name"}
    assert _fields(await api.get("/v1/cases", params={"kind": "request\x00"})) == {"kind"}


async def test_a_signal_with_a_nul_is_refused_by_the_case(
    api: AsyncClient, dev_env: WorkflowEnvironment,
) -> None:
    """The domain's message validation, which Updates and signals go through, refuses it too."""
    case_id = (await api.post("/v1/notifications", json=_notification())).json()["case_id"]
    await dev_env.client.get_workflow_handle(case_id).signal("record", DecisionMessage(
        record={"step": "ssl_recommendation", "criteria_met": True,
                "recommend_panel_notification": True, "rationale": "Met\x00"}))
    await dev_env.client.get_workflow_handle(case_id).signal("record", DecisionMessage(
        record={"step": "inform_partners"}))
    for _ in range(50):
        events = (await api.get(f"/v1/cases/{case_id}/events")).json()
        if any(e["kind"] == "recorded" for e in events):
            break
    rejected = [e["detail"] for e in events if e["kind"] == "signal_rejected"]
    assert len(rejected) == 1
    assert "rationale" in rejected[0]
    assert "control character" in rejected[0]
    assert [e["step"] for e in events if e["kind"] == "recorded"] == ["inform_partners"]

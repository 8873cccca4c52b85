"""One character must not break a case: control characters (NUL and the other C0 controls but
tab and line feed; CR only in CR LF) and lone surrogates are refused in every text field of
every request and message, with a 422 naming the field, and nothing is recorded."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from api.app import create_app
from domain.case import InvalidRecord, refuse_control_characters
from domain.decisions import DecisionMessage, SslRecommendation
from domain.notification import Notification
from domain.text import clean_line, control_character, text_refusal
from tests.conftest import CONVERTER, as_role
from worker import WORKFLOW_RUNNER, WORKFLOWS

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


@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "a\x08b", "a\rb", "a\udc00b", "\x0b"])
def test_text_refuses_controls_and_surrogates(value: str) -> None:
    reason = text_refusal(value)
    assert reason is not None
    assert reason.startswith("contains a")


def test_text_takes_tabs_and_line_breaks() -> None:
    assert text_refusal("one\ttwo\r\nthree\nfour") is None


def test_the_field_is_named_as_pydantic_names_it() -> None:
    body = {"children": [{"reference": "R1"}, {"reference": "R\x002"}], "summary": "ok"}
    assert control_character(body) == (
        "children.1.reference", "contains a control character (U+0000); only tab and line "
                                "breaks are allowed in text")


@pytest.mark.parametrize("value", ["a\nb", "a\tb", "a\r\nb"])
def test_a_directory_name_is_one_line(value: str) -> None:
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
    body["notifying_agency"] = "Humberside\x1bPolice"
    assert _fields(await api.post("/v1/notifications", json=body)) == {"notifying_agency"}
    body["children"][0]["reference"] = "R\x00"
    body["notifying_agency"] = "Humberside Police"
    assert _fields(await api.post("/v1/notifications", json=body)) == {"children.0.reference"}
    body["notifying_agency"] = "Humberside \udc00Police"  # sent as JSON's "\udc00"
    assert _fields(await api.post("/v1/notifications", content=json.dumps(body),
                                  headers={"content-type": "application/json"})
                   ) == {"notifying_agency"}
    # CR LF from a browser's text area is taken.
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
    for name in ("Trust\x00", "Trust\nLtd"):
        organisation = await api.post("/v1/directory/organisations", json={
            "name": name, "kind": "agency"})
        assert _fields(organisation) == {"name"}
    assert _fields(await api.get("/v1/cases", params={"kind": "request\x00"})) == {"kind"}


def test_a_record_with_a_control_character_is_an_invalid_record() -> None:
    """The check for a record sent to Temporal directly, as an update validator would run it."""
    record = SslRecommendation(criteria_met=True, recommend_panel_notification=True,
                               rationale="Met\x00")
    with pytest.raises(InvalidRecord) as caught:
        refuse_control_characters(record)
    assert caught.value.field == "rationale"
    refuse_control_characters(SslRecommendation(
        criteria_met=True, recommend_panel_notification=True, rationale="Met\r\nfully"))


def test_text_already_in_a_case_is_never_judged_again() -> None:
    """A case holding a control character from before still decodes (its history, its stored
    copy, its letters): only new input is checked."""
    kept = Notification.model_validate({
        "received_at": "2026-11-02T10:00:00Z", "notifying_agency": "Humberside Police",
        "incident": {"date": "2026-11-01", "harm": "death", "abuse_or_neglect": "known",
                     "summary": "Found\x0b at home\x01."},
        "children": [{"reference": "R1"}]})
    assert kept.incident.summary == "Found\x0b at home\x01."


async def test_an_update_sent_to_temporal_directly_with_a_nul_is_refused(
    api: AsyncClient, dev_env: WorkflowEnvironment,
) -> None:
    """The update validators check new text (they do not run on replay: an older history's
    text is never judged again)."""
    case_id = (await api.post("/v1/notifications", json=_notification())).json()["case_id"]
    handle = dev_env.client.get_workflow_handle(case_id)
    for update, record, field in (
        ("record", {"step": "inform_partners"}, "actor.subject"),
        ("raise_difference", {"subject": "criteria", "summary": "We\x00differ"}, "summary"),
    ):
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(update, DecisionMessage(
                record=record, actor={"subject": "mars\x00@cspr.test", "role": "mars_team"}
                if update == "record" else None))
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "InvalidRecord"
        assert cause.details[0]["field"] == field
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    assert {s["step"]: s["status"] for s in case["steps"]}["inform_partners"] == "pending"


async def test_a_signal_with_a_nul_is_refused_and_its_history_replays(
    api: AsyncClient, dev_env: WorkflowEnvironment,
) -> None:
    """The signal handler refuses new text behind the "signal-text" patch, asked only when a
    signal holds such text: this history marks it and replays; the committed ones, which have
    no such signal, replay as before (tests/test_replay.py)."""
    case_id = (await api.post("/v1/notifications", json=_notification())).json()["case_id"]
    handle = dev_env.client.get_workflow_handle(case_id)
    await handle.signal("record", DecisionMessage(record={"step": "inform_partners"}, actor={
        "subject": "mars\x00@cspr.test", "role": "mars_team"}))
    await handle.signal("record", DecisionMessage(record={"step": "inform_partners"}))
    for _ in range(100):
        events = (await api.get(f"/v1/cases/{case_id}/events")).json()
        if any(e["kind"] == "recorded" for e in events):
            break
        await asyncio.sleep(0.1)
    rejected = [e["detail"] for e in events if e["kind"] == "signal_rejected"]
    assert len(rejected) == 1
    assert rejected[0].startswith("actor.subject: contains a control character (U+0000)")
    assert [e["step"] for e in events if e["kind"] == "recorded"] == ["inform_partners"]
    history = await handle.fetch_history()
    markers = {p.data for e in history.events if e.HasField("marker_recorded_event_attributes")
               for p in e.marker_recorded_event_attributes.details["patch-data"].payloads}
    # The patched path, under the one marker a new run takes every patch with (its own
    # "signal-text" marker before "case-patches-1").
    assert b'{"id":"case-patches-1","deprecated":false}' in markers
    await Replayer(workflows=WORKFLOWS, data_converter=CONVERTER,
                   workflow_runner=WORKFLOW_RUNNER).replay_workflow(history)

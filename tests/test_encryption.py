"""A child's data never reaches Temporal in clear: every payload in history is encrypted."""

from __future__ import annotations

import json
from collections.abc import Iterator

from google.protobuf.message import Message
from httpx import AsyncClient
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from infra.codec import ENCODING
from tests.conftest import CODEC

REFERENCE = "NL-CHILD-ZQ-40417"
SUMMARY = "Found with a spiral fracture of the left femur"
# What the SDK records of a local activity in its marker's plain "data" payload.
LOCAL_ACTIVITY_OWN = {"seq", "attempt", "activity_id", "activity_type", "complete_time",
                      "backoff", "original_schedule_time", "activation_index"}


def payloads(message: Message) -> Iterator[Payload]:
    """Every Payload inside a protobuf message but search attributes (never encrypted, and
    holding nothing personal: tests/test_updates.py checks what is in them)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None or field.name == "search_attributes":
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif isinstance(value, Message):
            items = [value]
        else:
            items = list(value)
        for item in items:
            if isinstance(item, Message):
                yield from payloads(item)


async def test_history_holds_no_child_data_in_clear(
    api: AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    response = await api.post("/v1/notifications", json={
        "notifying_agency": "Northern Lincolnshire and Goole NHS Trust",
        "incident": {"date": "2026-11-01", "harm": "serious_harm", "abuse_or_neglect": "known",
                     "summary": SUMMARY},
        "children": [{"reference": REFERENCE, "date_of_birth": "2020-02-02",
                      "looked_after": True}],
    })
    assert response.status_code == 201
    case_id = response.json()["case_id"]
    assert (await api.post(f"/v1/cases/{case_id}/inform-partners", json={})).status_code == 200

    history = await dev_env.client.get_workflow_handle(case_id).fetch_history()
    raw = b"".join(e.SerializeToString() for e in history.events)
    assert REFERENCE.encode() not in raw
    assert SUMMARY.encode() not in raw

    # The SDK's own patch markers ({"id": patch name}) and a local activity's marker's own
    # record of it (its type, sequence, attempt and times: no value of the case) are the one
    # plain payloads allowed; the local activity's result is encrypted like the rest.
    local = [e.marker_recorded_event_attributes.details for e in history.events
             if e.marker_recorded_event_attributes.marker_name == "core_local_activity"]
    assert local  # the projection (patch "projection-local")
    for details in local:
        own = json.loads(details["data"].payloads[0].data)
        assert set(own) <= LOCAL_ACTIVITY_OWN, own
        assert details["result"].payloads[0].metadata["encoding"] == ENCODING
    found = [p for e in history.events for p in payloads(e)
             if e.marker_recorded_event_attributes.marker_name != "core_patch"
             and not any(p == q for d in local for q in d["data"].payloads)]
    assert len(found) >= 3  # the start input, the update, activity inputs and results
    assert all(p.metadata["encoding"] == ENCODING for p in found)
    assert {p.metadata["encryption-key-id"] for p in found} == {b"test-key-1"}
    # The control: with the key, the reference is there.
    decoded = await CODEC.decode(found)
    assert any(REFERENCE.encode() in p.data for p in decoded)
    await dev_env.client.get_workflow_handle(case_id).terminate("test over")

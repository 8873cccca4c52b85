"""Decisions as Workflow Updates on the real dev server: validated before they enter history."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.case import CaseState, Channel, EventKind, Stage, StepStatus
from domain.decisions import Actor, DecisionMessage, DspDecision
from domain.procedure import Step
from tests.factories import CHILD_REFERENCE, case_when, decision, start_case
from workflows import search_attributes as sa
from workflows.serious_incident import SeriousIncidentWorkflow


def case_id() -> str:
    return f"CSPR-2026-{uuid.uuid4().hex[:8].upper()}"


async def opened(handle: object) -> None:
    await handle.execute_update(SeriousIncidentWorkflow.opened)  # type: ignore[attr-defined]


async def update(handle: object, step: str, **fields: Any) -> CaseState:
    return await handle.execute_update(  # type: ignore[attr-defined, no-any-return]
        SeriousIncidentWorkflow.record, decision(step, **fields)
    )


async def accepted_updates(handle: object) -> int:
    history = await handle.fetch_history()  # type: ignore[attr-defined]
    return sum(1 for e in history.events
               if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)


async def test_update_accepted_returns_the_case_and_a_rejected_one_leaves_no_trace(
    dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    handle = await start_case(dev_env.client, dev_worker.task_queue, case_id(),
                              datetime.now(UTC))
    await opened(handle)
    with pytest.raises(WorkflowUpdateFailedError) as wrong_stage:
        await update(handle, "dsp_decision", partner="police", criteria_met=True,
                     rationale="Too early")
    cause = wrong_stage.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "StepNotOpen"
    assert cause.details[0]["step"] == "dsp_decision"

    case = await update(handle, "inform_partners")
    assert case.stage is Stage.SSL_RECOMMENDATION
    assert case.step(Step.INFORM_PARTNERS).status is StepStatus.DONE

    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await update(handle, "inform_partners")
    assert isinstance(twice.value.cause, ApplicationError)
    assert twice.value.cause.type == "StepNotOpen"

    future = (datetime.now(UTC) + timedelta(days=3)).date()
    with pytest.raises(WorkflowUpdateFailedError) as bad_date:
        await update(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="x", completed_on=future)
    assert isinstance(bad_date.value.cause, ApplicationError)
    assert bad_date.value.cause.type == "InvalidRecord"
    assert bad_date.value.cause.details[0] == {"field": "completed_on",
                                                "reason": "is in the future"}

    # Only "opened" and the one accepted record are in history; the rejected never entered it.
    assert await accepted_updates(handle) == 2
    case = await handle.query(SeriousIncidentWorkflow.case)
    assert len(case.records) == 1
    await handle.terminate("test over")


async def test_signal_and_update_record_the_same_decision(
    dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    handle = await start_case(dev_env.client, dev_worker.task_queue, case_id(),
                              datetime.now(UTC))
    await handle.signal("record", decision("inform_partners"))  # waits for the case to open
    await opened(handle)
    case = await update(handle, "ssl_recommendation", criteria_met=True,
                        recommend_panel_notification=True, rationale="Criteria met")
    assert [r.step for r in case.records] == ["inform_partners", "ssl_recommendation"]
    assert case.stage is Stage.DSP_DECISION
    await handle.terminate("test over")


async def wait_visible(client: Client, query: str, expected: int) -> int:
    """Visibility is eventually consistent: poll briefly."""
    count = 0
    for _ in range(600):  # up to 30 s: a start, an activity and a projection under CI load
        count = (await client.count_workflows(query)).count
        if count == expected:
            break
        await asyncio.sleep(0.1)
    return count


async def test_operations_find_cases_by_stage_and_overdue(
    dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    on_time, late = case_id(), case_id()
    now = datetime.now(UTC)
    h1 = await start_case(dev_env.client, dev_worker.task_queue, on_time, now)
    h2 = await start_case(dev_env.client, dev_worker.task_queue, late, now - timedelta(days=20))
    await opened(h1)
    await update(h1, "inform_partners")
    both = f"{sa.CASE_ID.name} IN ('{on_time}', '{late}')"
    assert await wait_visible(
        dev_env.client, f"{both} AND {sa.STAGE.name} = 'ssl_recommendation'", 1) == 1
    assert await wait_visible(dev_env.client, f"{both} AND {sa.OVERDUE.name} = true", 1) == 1
    description = await h2.describe()
    attrs = description.typed_search_attributes
    assert attrs.get(sa.CASE_ID) == late
    assert attrs.get(sa.STAGE) == "notified"
    assert attrs.get(sa.OVERDUE) is True
    assert (await h1.describe()).typed_search_attributes.get(sa.NEXT_DEADLINE) is not None
    # Nothing personal in what operations see.
    assert CHILD_REFERENCE not in str(description.raw_description)
    for h in (h1, h2):
        await h.terminate("test over")


async def test_a_malformed_message_is_refused_by_field_name_only(
    dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    handle = await start_case(dev_env.client, dev_worker.task_queue, case_id(),
                              datetime.now(UTC))
    await opened(handle)
    secret = "Child JOHN SMITH age 3"
    bad = DecisionMessage(record={"step": "inform_partners", "note": secret})
    await handle.signal("record", bad)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("record", bad, result_type=CaseState)
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == "InvalidRecord"
    assert refused.value.cause.details[0]["field"] == "note"
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("record", DecisionMessage(record={"step": "no_such_step"}),
                                    result_type=CaseState)

    case = await handle.query(SeriousIncidentWorkflow.case)
    rejected = [e for e in case.events if e.kind is EventKind.SIGNAL_REJECTED]
    assert [(e.step, e.detail.split(":")[0]) for e in rejected] == [
        (Step.INFORM_PARTNERS, "note")]
    assert secret not in case.model_dump_json()
    assert case.stage is Stage.NOTIFIED
    await handle.terminate("test over")


def patches(history: object) -> list[str]:
    """The patch ids a workflow's history marks (the markers' one plain payload)."""
    return [json.loads(p.data)["id"]
            for e in history.events  # type: ignore[attr-defined]
            if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            for p in e.marker_recorded_event_attributes.details["patch-data"].payloads]


async def test_a_signal_is_held_to_its_actor_s_role_and_organisation(
    dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    handle = await start_case(dev_env.client, dev_worker.task_queue, case_id(),
                              datetime.now(UTC))
    await opened(handle)
    await update(handle, "inform_partners")
    await update(handle, "ssl_recommendation", criteria_met=True,
                 recommend_panel_notification=True, rationale="Criteria met")
    secret = "Child JOHN SMITH age 3"
    health_dsp = Actor(subject="dsp-health-1@cspr.test", role="dsp", organisation="health")
    police_ssl = Actor(subject="ssl-police-1@cspr.test", role="ssl", organisation="police")
    police_dsp = Actor(subject="dsp-police-1@cspr.test", role="dsp", organisation="police")
    # Health's DSP for the police, and the police's SSL: refused, in the order sent.
    for wrong in (health_dsp, police_ssl):
        await handle.signal("record", decision("dsp_decision", actor=wrong, partner="police",
                                               criteria_met=False, rationale=secret))
    await handle.signal("record", decision("dsp_decision", actor=police_dsp, partner="police",
                                           criteria_met=True, rationale="Met"))
    case = await case_when(handle, lambda c: bool(c.dsp_decisions()))

    rejected = [(e.step, e.detail, e.channel, e.actor)
                for e in case.events if e.kind is EventKind.SIGNAL_REJECTED]
    assert rejected == [
        (Step.DSP_DECISION, "not permitted: the dsp role records dsp_decision only for its own "
                            "organisation: partner must be the token's org",
         Channel.SIGNAL, health_dsp),
        (Step.DSP_DECISION, "not permitted: the ssl role cannot record dsp_decision",
         Channel.SIGNAL, police_ssl),
    ]
    # Nothing of the refused messages was kept, and no reason repeats what they said.
    assert [r for r in case.records if isinstance(r, DspDecision)] == [
        DspDecision(partner="police", criteria_met=True, rationale="Met")]
    assert case.step(Step.DSP_DECISION).parts[0].party == "police"
    assert len(case.step(Step.DSP_DECISION).parts) == 1
    assert secret not in case.model_dump_json()
    assert not any(a.subject in e.detail for e in case.events for a in (health_dsp, police_ssl))
    [applied] = [e for e in case.events
                 if e.kind is EventKind.RECORDED and e.step is Step.DSP_DECISION]
    assert (applied.channel, applied.actor, applied.detail) == (
        Channel.SIGNAL, police_dsp, "police")
    assert case.stage is Stage.DSP_DECISION
    # The refusal is the patched path: this history carries its marker, the one a new run
    # takes every patch with ("case-patches-1"; "signal-permissions" alone before it).
    assert "case-patches-1" in patches(await handle.fetch_history())
    await handle.terminate("test over")


async def test_a_signal_naming_no_one_is_an_operator_s_and_is_applied(
    dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    handle = await start_case(dev_env.client, dev_worker.task_queue, case_id(),
                              datetime.now(UTC))
    await opened(handle)
    await handle.signal("record", decision("inform_partners"))
    case = await case_when(handle, lambda c: c.stage is Stage.SSL_RECOMMENDATION)
    [applied] = [e for e in case.events if e.kind is EventKind.RECORDED]
    assert (applied.step, applied.channel, applied.actor) == (
        Step.INFORM_PARTNERS, Channel.SIGNAL, None)
    # No signal was refused, so the refusal's patch was never taken.
    assert "signal-permissions" not in patches(await handle.fetch_history())
    await handle.terminate("test over")

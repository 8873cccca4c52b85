"""The recorder's scenarios for a case with its LCSPR child, and for review requests (tag
parent1). The LCSPR is the stand-in: the parent's history holds only the child's start and
result, whatever the child does in between."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.case import CaseState
from domain.reviews import LocalReviewResult
from tests.factories import decision, start_request
from tests.local_review_stand_in import LocalReviewStandIn
from tests.scenarios import rapid_review_to_submission
from workflows.ids import local_review_id

Handle = WorkflowHandle[Any, Any]
Scenario = Callable[[WorkflowEnvironment, Handle], Awaitable[None]]
PARTNERS = ("local_authority", "health", "police")


def _by_signal(handle: Handle) -> Callable[..., Awaitable[None]]:
    async def send(step: str, **fields: Any) -> None:
        await handle.signal("record", decision(step, **fields))
        await asyncio.sleep(0.3)  # let the worker apply it before the clock moves
    return send


async def _finish_the_lcspr(env: WorkflowEnvironment, handle: Handle, published: bool) -> None:
    await asyncio.sleep(0.5)  # the case starts its LCSPR once it has moved on
    child = env.client.get_workflow_handle(local_review_id(handle.id))
    await child.signal(LocalReviewStandIn.finish, LocalReviewResult(
        case_id=handle.id, published=published, action_plan_signed_off_on=date(2027, 6, 1)))


async def lcspr_child_closes_a_serious_case(env: WorkflowEnvironment, handle: Handle) -> None:
    """To a local review, the LCSPR started; the Panel's national review leaves it running;
    the case closes when it ends."""
    send = _by_signal(handle)
    await send("inform_partners")
    await send("ssl_recommendation", criteria_met=True, recommend_panel_notification=True,
               rationale="Criteria met")
    for partner in PARTNERS:
        await send("dsp_decision", partner=partner, criteria_met=True, rationale="Agreed")
    await send("panel_notification", notified_at=await env.get_current_time(),
               reference="CSPN-P1")
    await rapid_review_to_submission(send, ["Council"])
    await asyncio.sleep(0.5)
    await send("panel_response", decision="national_review")
    await env.sleep(timedelta(days=30))
    await _finish_the_lcspr(env, handle, published=True)


async def request_agreed_to_its_lcspr(env: WorkflowEnvironment, handle: Handle) -> None:
    """A request, the SSLs late, the partners agree: its LCSPR runs and it closes with it."""
    send = _by_signal(handle)
    await send("inform_partners")
    await send("panel_notification", notified_at=await env.get_current_time(),
               reference="CSPN-P2")  # not a request's step: refused
    await env.sleep(timedelta(days=5))  # the SSL and DSP steps overdue
    await send("ssl_recommendation", criteria_met=True, rationale="A near miss")
    for partner in PARTNERS:
        await send("dsp_decision", partner=partner, criteria_met=True, rationale="Agreed")
    await _finish_the_lcspr(env, handle, published=False)


async def declined_request_by_updates(_: WorkflowEnvironment, handle: Handle) -> None:
    """A request recorded through updates (as the API does), which the partners decline."""
    await handle.execute_update("opened", result_type=CaseState)

    async def send(step: str, **fields: Any) -> None:
        await handle.execute_update("record", decision(step, **fields), result_type=CaseState)

    await send("inform_partners")
    await send("ssl_recommendation", criteria_met=False, rationale="Learning already shared")
    for partner in PARTNERS:
        await send("dsp_decision", partner=partner, criteria_met=False, rationale="Declined")


TIME_SKIPPING: dict[str, Scenario] = {
    "lcspr_child_closes_a_serious_case": lcspr_child_closes_a_serious_case,
    "request_agreed_to_its_lcspr": request_agreed_to_its_lcspr,
}
DEV_SERVER: dict[str, Scenario] = {"declined_request_by_updates": declined_request_by_updates}
# How each scenario's case starts, where it is not a notification.
STARTS: dict[str, Callable[..., Awaitable[Handle]]] = {
    "request_agreed_to_its_lcspr": start_request,
    "declined_request_by_updates": start_request,
}

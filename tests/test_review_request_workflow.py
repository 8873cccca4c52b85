"""The review-request workflow (Flowchart 4) under the time-skipping server.

Decisions go in as signals (Updates are unreliable on the time-skipping server; the API tests
drive them on the dev server). The LCSPR is the stand-in child (tests/local_review_stand_in.py):
what the request does with its review, not the review itself.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from domain.case import CaseState, Channel, EventKind, Outcome, Stage, StepStatus
from domain.decisions import Actor
from domain.procedure import Step
from domain.reviews import LocalReviewInput, LocalReviewResult, ReviewKind
from store.db import Sessionmaker
from store.models import Case, CasePart
from tests.conftest import new_worker
from tests.factories import case_when, clocks_started, signal, start_request
from tests.local_review_stand_in import STAGE, LocalReviewStandIn, with_stand_in
from tests.scenarios import at_london, next_monday_21_december, travel_to
from workflows.case_workflow import CaseResult
from workflows.ids import local_review_id

PARTNERS = ("local_authority", "health", "police")
MARS = Actor(subject="mars@cspr.test", role="mars_team")


def dsp(partner: str) -> Actor:
    return Actor(subject=f"dsp-{partner}@cspr.test", role="dsp", organisation=partner)


def kinds(case: CaseState, kind: EventKind) -> list[tuple[str | None, str]]:
    return [(e.step.value if e.step else None, e.detail) for e in case.events if e.kind is kind]


def case_id() -> str:
    return f"CSPR-2026-RQ{uuid.uuid4().hex[:6].upper()}"


async def stored_part(sessions: Sessionmaker, case_id: str) -> str | None:
    """The stage of the case's local_review part in the store, once it is there."""
    for _ in range(600):  # up to 30 s: a start, an activity and a projection under CI load
        async with sessions() as session:
            part = await session.get(CasePart, (case_id, "local_review"))
        if part is not None:
            return part.stage
        await asyncio.sleep(0.05)
    return None


async def opened(handle: WorkflowHandle[Any, Any]) -> CaseState:
    return await case_when(handle, clocks_started)


async def test_request_agreed_runs_the_lcspr_as_a_child_and_closes_when_it_ends(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    monday = next_monday_21_december(await time_env.get_current_time())
    y = monday.year
    async with new_worker(time_env.client, sessions, workflows=with_stand_in()) as worker:
        await travel_to(time_env, at_london(monday, 10))
        cid = case_id()
        handle = await start_request(time_env.client, worker.task_queue, cid,
                                     await time_env.get_current_time(), actor=MARS)
        case = await opened(handle)
        assert (case.kind, case.stage, case.procedure_version) == (
            ReviewKind.REQUEST, Stage.REQUESTED, "nl-cspr-2025-06-request")
        assert [(e.kind, e.channel, e.actor) for e in case.events] == [
            (EventKind.REQUESTED, Channel.API, MARS)]
        # Flowchart 1's local targets by analogy: R+1, R+3, R+4 over Christmas.
        assert {s.step.value: s.due_date for s in case.steps} == {
            "inform_partners": date(y, 12, 22), "ssl_recommendation": date(y, 12, 24),
            "dsp_decision": date(y, 12, 29)}
        assert not any(s.statutory for s in case.steps)

        await signal(handle, "inform_partners", actor=MARS)
        # Nothing goes to the Panel from a request: a step of the serious route is refused.
        await signal(handle, "panel_notification", notified_at=await time_env.get_current_time(),
                     reference="CSPN-RQ-1")
        await signal(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Learning for the area")
        case = await case_when(handle, lambda c: len(kinds(c, EventKind.SIGNAL_REJECTED)) == 2)
        assert [step for step, _ in kinds(case, EventKind.SIGNAL_REJECTED)] == [
            "panel_notification", "ssl_recommendation"]
        assert "not a step of a request case" in kinds(case, EventKind.SIGNAL_REJECTED)[0][1]
        assert case.stage is Stage.SSL_RECOMMENDATION

        await travel_to(time_env, at_london(date(y, 12, 23), 9, 30))
        case = await case_when(handle, lambda c: bool(kinds(c, EventKind.REMINDER)))
        assert ("ssl_recommendation", f"local deadline {date(y, 12, 24)}") in kinds(
            case, EventKind.REMINDER)
        await signal(handle, "ssl_recommendation", criteria_met=True,
                     rationale="A near miss with learning for three agencies")
        case = await case_when(handle, lambda c: c.stage is Stage.DSP_DECISION)

        # The partners meet on the 29th but record it after the deadline, with its date.
        await travel_to(time_env, at_london(date(y, 12, 30), 11))
        case = await case_when(handle, lambda c: c.step(Step.DSP_DECISION).status
                               is StepStatus.OVERDUE)
        assert case.overdue
        for partner in PARTNERS:
            await signal(handle, "dsp_decision", actor=dsp(partner), partner=partner,
                         criteria_met=True, rationale="Agreed",
                         completed_on=date(y, 12, 29).isoformat())
        case = await case_when(handle, lambda c: bool(kinds(c, EventKind.LOCAL_REVIEW_STARTED)))
        assert (case.stage, case.outcome) == (Stage.LOCAL_REVIEW, Outcome.LOCAL_REVIEW)
        assert case.step(Step.DSP_DECISION).status is StepStatus.DONE
        assert not case.overdue
        assert kinds(case, EventKind.LOCAL_REVIEW_STARTED) == [(None, local_review_id(cid))]

        # The LCSPR: a child of the request, with clock L the partners' date.
        child = time_env.client.get_workflow_handle(local_review_id(cid))
        given = await child.query(LocalReviewStandIn.input)
        assert given == LocalReviewInput(
            case_id=cid, kind=ReviewKind.REQUEST, procedure_version="nl-cspr-2025-06-request",
            decided_on=date(y, 12, 29), decided_at=None, actor=dsp("police"))
        assert (await child.describe()).parent_id == cid
        assert await stored_part(sessions, cid) == STAGE  # the child projects itself
        async with sessions() as session:
            stored = await session.get(Case, cid)
        assert stored is not None
        assert (stored.kind, stored.stage, stored.incident_date) == ("request", "local_review",
                                                                     None)

        result = LocalReviewResult(case_id=cid, published=True,
                                   action_plan_signed_off_on=date(y + 1, 9, 1))
        await child.signal(LocalReviewStandIn.finish, result)
        done = await handle.result()
        assert done == CaseResult(case_id=cid, outcome=Outcome.LOCAL_REVIEW, local_review=result)
        case = await handle.query("case", result_type=CaseState)
        assert case.stage is Stage.CLOSED
        assert kinds(case, EventKind.LOCAL_REVIEW_ENDED) == [(None, "completed")]
        async with sessions() as session:
            stored = await session.get(Case, cid)
        assert stored is not None
        assert (stored.stage, stored.outcome, stored.overdue) == ("closed", "local_review", False)


async def test_partners_who_disagree_then_decline_close_the_request_without_a_review(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    async with new_worker(time_env.client, sessions, workflows=with_stand_in()) as worker:
        cid = case_id()
        handle = await start_request(time_env.client, worker.task_queue, cid,
                                     await time_env.get_current_time(), category="good_practice")
        await opened(handle)
        await signal(handle, "inform_partners")
        await signal(handle, "ssl_recommendation", criteria_met=False,
                     recommend_panel_notification=False, rationale="Learning already shared")
        await signal(handle, "dsp_decision", partner="local_authority", criteria_met=True,
                     rationale="Worth a review")
        await signal(handle, "dsp_decision", partner="health", criteria_met=False,
                     rationale="Learning already shared")
        await signal(handle, "dsp_decision", partner="police", criteria_met=False,
                     rationale="Learning already shared")
        case = await case_when(handle, lambda c: c.stage is Stage.DIFFERENCE_OF_OPINION)
        assert case.outcome is None
        # The deadline still runs while they disagree.
        await time_env.sleep(timedelta(days=8))
        case = await case_when(handle, lambda c: c.overdue)
        await signal(handle, "dsp_decision", partner="local_authority", criteria_met=False,
                     rationale="Persuaded after discussion with the SSLs")
        result = await handle.result()
        assert result == CaseResult(case_id=cid, outcome=Outcome.REVIEW_NOT_AGREED)
        case = await handle.query("case", result_type=CaseState)
        assert case.stage is Stage.CLOSED
        assert case.step(Step.DSP_DECISION).status is StepStatus.DONE_LATE
        assert not kinds(case, EventKind.LOCAL_REVIEW_STARTED)
        with pytest.raises(RPCError) as missing:
            await time_env.client.get_workflow_handle(local_review_id(cid)).describe()
        assert missing.value.status is RPCStatusCode.NOT_FOUND

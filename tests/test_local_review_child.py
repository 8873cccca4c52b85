"""A case and its LCSPR child, under the time-skipping server: when the serious case starts it,
with what input and id, how the case closes when it ends, a Panel's national review meanwhile,
and the parent-close policy (REQUEST_CANCEL) when the case itself is cancelled or terminated.

The LCSPR is the stand-in (tests/local_review_stand_in.py): the parent's side of the contract.
The parent-close policy is tested on the dev server, which applies it (the time-skipping
server leaves the child running).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from domain.case import CaseState, EventKind, Outcome, Stage, StepStatus
from domain.decisions import Actor
from domain.procedure import CURRENT_PROCEDURE, Step
from domain.reviews import LocalReviewInput, LocalReviewResult, ReviewKind
from store.db import Sessionmaker
from tests.conftest import new_worker
from tests.factories import case_when, signal, start_case, start_request
from tests.local_review_stand_in import LocalReviewStandIn, with_stand_in
from workflows.case_workflow import CaseResult
from workflows.ids import local_review_id

PARTNERS = ("local_authority", "health", "police")
MARS = Actor(subject="mars@cspr.test", role="mars_team")
Handle = WorkflowHandle[Any, Any]


def started(case: CaseState) -> bool:
    return any(e.kind is EventKind.LOCAL_REVIEW_STARTED for e in case.events)


def ended(case: CaseState) -> list[str]:
    return [e.detail for e in case.events if e.kind is EventKind.LOCAL_REVIEW_ENDED]


async def to_submission(env: WorkflowEnvironment, handle: Handle) -> CaseState:
    """A serious case through Flowcharts 1 and 2 to a submission with a local review decided."""
    await case_when(handle, lambda c: bool(c.clock_dates))
    await signal(handle, "inform_partners")
    await signal(handle, "ssl_recommendation", criteria_met=True,
                 recommend_panel_notification=True, rationale="Criteria met")
    for partner in PARTNERS:
        await signal(handle, "dsp_decision", partner=partner, criteria_met=True,
                     rationale="Agreed")
    await signal(handle, "panel_notification", notified_at=await env.get_current_time(),
                 reference="CSPN-LC-1")
    await signal(handle, "agency_requests", agencies=["Council"])
    await signal(handle, "agency_reports", agency="Council")
    await signal(handle, "rapid_review_meeting", actor=MARS, outcome="local_review",
                 recommendations=["Share the learning on bruising"],
                 rationale="Two agencies did not share information")
    # "As soon as the safeguarding partners have determined that a local review will be
    # carried out, they should inform the Panel, Ofsted and DfE": the LCSPR starts at the
    # meeting's decision (clock L), while the rapid review is still being written and signed.
    case = await case_when(handle, started)
    assert case.local_review_decided is not None
    assert case.stage is Stage.RAPID_REVIEW
    await signal(handle, "rapid_review_report")
    for partner in PARTNERS:
        await signal(handle, "rapid_review_signoff", partner=partner)
    await signal(handle, "rapid_review_submission")
    return await case_when(handle, lambda c: c.stage is Stage.LOCAL_REVIEW)


async def test_a_serious_case_starts_its_lcspr_at_the_decision_and_closes_when_it_ends(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    cid = f"CSPR-2026-LC{uuid.uuid4().hex[:6].upper()}"
    async with new_worker(time_env.client, sessions, workflows=with_stand_in()) as worker:
        handle = await start_case(time_env.client, worker.task_queue, cid,
                                  await time_env.get_current_time(),
                                  children=[{"reference": f"LC-{uuid.uuid4().hex[:8]}"}])
        case = await to_submission(time_env, handle)
        assert (case.stage, case.outcome) == (Stage.LOCAL_REVIEW, Outcome.LOCAL_REVIEW)
        meeting = case.step(Step.RAPID_REVIEW_MEETING).completion
        assert meeting is not None

        child = time_env.client.get_workflow_handle(local_review_id(cid))
        assert await child.query(LocalReviewStandIn.input) == LocalReviewInput(
            case_id=cid, kind=ReviewKind.SERIOUS_INCIDENT,
            procedure_version=CURRENT_PROCEDURE.version,
            decided_on=None, decided_at=meeting.completed_at, actor=MARS)
        assert (await child.describe()).parent_id == cid

        # The Panel decides on a national review: the partners' LCSPR runs on.
        await signal(handle, "panel_response", decision="national_review")
        case = await case_when(handle, lambda c: c.step(Step.PANEL_RESPONSE).completion
                               is not None)
        assert case.step(Step.PANEL_RESPONSE).status is StepStatus.DONE
        assert (case.stage, case.outcome) == (Stage.LOCAL_REVIEW, Outcome.LOCAL_REVIEW)

        result = LocalReviewResult(case_id=cid, published=None, action_plan_signed_off_on=None)
        await child.signal(LocalReviewStandIn.finish, result)
        assert await handle.result() == CaseResult(case_id=cid, outcome=Outcome.LOCAL_REVIEW,
                                                   local_review=result)
        case = await handle.query("case", result_type=CaseState)
        assert case.stage is Stage.CLOSED
        assert ended(case) == ["completed"]


async def request_with_its_lcspr(env: WorkflowEnvironment, task_queue: str) -> tuple[
        Handle, Handle]:
    """A request the partners agreed to: the request and its running LCSPR."""
    cid = f"CSPR-2026-PC{uuid.uuid4().hex[:6].upper()}"
    handle = await start_request(env.client, task_queue, cid, await env.get_current_time())
    await case_when(handle, lambda c: bool(c.clock_dates))
    await signal(handle, "inform_partners")
    await signal(handle, "ssl_recommendation", criteria_met=True, rationale="Near miss")
    for partner in PARTNERS:
        await signal(handle, "dsp_decision", partner=partner, criteria_met=True,
                     rationale="Agreed")
    await case_when(handle, started)
    return handle, env.client.get_workflow_handle(local_review_id(cid))


async def assert_cancelled(child: Handle) -> None:
    with pytest.raises(WorkflowFailureError) as failure:
        await child.result()
    assert isinstance(failure.value.cause, CancelledError)


async def test_a_case_cancelled_cancels_its_lcspr(
    dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """The LCSPR is started with parent-close policy ABANDON (its case may continue as new
    while it runs, "lcspr-abandon"); a case entered in error and cancelled by an operator asks
    its review to cancel itself, as REQUEST_CANCEL did. On the dev server: the time-skipping
    server does not apply parent-close policies."""
    async with new_worker(dev_env.client, sessions, workflows=with_stand_in()) as worker:
        handle, child = await request_with_its_lcspr(dev_env, worker.task_queue)
        await handle.cancel()
        await assert_cancelled(handle)
        await assert_cancelled(child)


async def test_a_case_terminated_leaves_its_lcspr_to_the_operator(
    dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """A termination runs no code of the case: its ABANDONED review runs on until the
    operator ends it too, by its id (README, Operations)."""
    async with new_worker(dev_env.client, sessions, workflows=with_stand_in()) as worker:
        handle, child = await request_with_its_lcspr(dev_env, worker.task_queue)
        await handle.terminate("entered in error")
        assert (await child.describe()).status is WorkflowExecutionStatus.RUNNING
        await child.cancel()
        await assert_cancelled(child)


async def test_an_lcspr_cancelled_on_its_own_closes_the_case_saying_so(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    async with new_worker(time_env.client, sessions, workflows=with_stand_in()) as worker:
        handle, child = await request_with_its_lcspr(time_env, worker.task_queue)
        await child.cancel()
        await assert_cancelled(child)
        result = await handle.result()
        assert (result.outcome, result.local_review) == (Outcome.LOCAL_REVIEW, None)
        case = await handle.query("case", result_type=CaseState)
        assert (case.stage, ended(case)) == (Stage.CLOSED, ["cancelled"])


"""Issue 9, "Cases that can be corrected": a case entered in error or a confirmed duplicate is
withdrawn by the MARS team, with a reason.

"Withdraw a case entered in error or a confirmed duplicate (MARS team, with a reason): it closes
as `withdrawn`, its LCSPR and plan (if any) end and say so in the store, no further reminder or
letter goes, the audit trail keeps everything."

Under the time-skipping server with the real case, LCSPR and action plan workflows and the real
case store; and through the real API on the dev server (roles, a closed case, the key).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.action_plan import PlanStage
from domain.case import CaseState, EventKind, Outcome, Stage, WithdrawalMessage
from domain.decisions import Actor
from domain.local_review import LocalReviewState
from domain.local_review_tasks import ReviewStage
from domain.procedure import Step
from domain.reviews import ActionPlanResult
from store.db import Sessionmaker
from store.models import AuditEvent, Case, CasePart, OutboxMessage
from tests.conftest import as_role, new_worker
from tests.factories import case_when, signal, start_case
from tests.local_reviews import by_signal, review_when, to_publication, to_review
from tests.test_api import assert_problem, new_case
from worker import WORKFLOW_RUNNER
from workflows.action_plan import ActionPlanWorkflow
from workflows.case_workflow import CaseResult
from workflows.ids import action_plan_id, local_review_id
from workflows.local_review import LocalReviewWorkflow
from workflows.serious_incident import SeriousIncidentWorkflow

PARTNERS = ("local_authority", "health", "police")
MARS = Actor(subject="mars@cspr.test", role="mars_team")
DUPLICATE = "CSPR-2026-ORIGINAL1"


def withdrawal(reason: str = "Entered twice by mistake", **fields: Any) -> WithdrawalMessage:
    return WithdrawalMessage.model_validate(
        {"withdrawal": {"reason": reason, **fields}, "actor": MARS.model_dump()})


async def test_a_withdrawn_case_ends_its_lcspr_and_plan_and_sends_nothing_more(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"it closes as `withdrawn`, its LCSPR and plan (if any) end and say so in the store, no
    further reminder or letter goes, the audit trail keeps everything." A serious case whose
    LCSPR has reached its action plan, with the rapid review's report still due (its reminder
    and escalation to come), is withdrawn as a duplicate; ninety days later nothing has been
    reminded, escalated or e-mailed for it."""
    cid = f"CSPR-2026-WD{uuid.uuid4().hex[:6].upper()}"
    async with new_worker(time_env.client, sessions) as worker:
        handle = await start_case(time_env.client, worker.task_queue, cid,
                                  await time_env.get_current_time(),
                                  children=[{"reference": f"WD-{uuid.uuid4().hex[:8]}"}])
        await case_when(handle, lambda c: bool(c.clock_dates))
        await signal(handle, "inform_partners")
        await signal(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Criteria met")
        for partner in PARTNERS:
            await signal(handle, "dsp_decision", partner=partner, criteria_met=True,
                         rationale="Agreed")
        await signal(handle, "panel_notification", notified_at=await time_env.get_current_time(),
                     reference="CSPN-WD-1")
        await signal(handle, "agency_requests", agencies=["Council"])
        await signal(handle, "agency_reports", agency="Council")
        await signal(handle, "rapid_review_meeting", actor=MARS, outcome="local_review",
                     recommendations=["Share the learning"], rationale="Missed referrals")
        await case_when(handle, lambda c: any(e.kind is EventKind.LOCAL_REVIEW_STARTED
                                              for e in c.events))
        review = time_env.client.get_workflow_handle(local_review_id(cid))
        send = by_signal(review)
        await send("inform_panel")
        await to_review(send)
        await to_publication(send)
        await review_when(review, lambda r: r.action_plan.workflow_id is not None)
        plan = time_env.client.get_workflow_handle(action_plan_id(cid))
        await plan.query("plan")  # running

        case = await handle.query("case", result_type=CaseState)
        report = case.step(Step.RAPID_REVIEW_REPORT)
        assert report.open
        assert report.deadlines[0].remind_at is not None
        # The LCSPR's own letters (the full report's, once every partner endorsed) go in the
        # background: a letter already on its way when the case is withdrawn still goes, so
        # the count is taken once it has been handed over (or found no one to go to: the
        # directory this test shares may be empty, and the review then records the shortfall).
        for _ in range(300):
            async with sessions() as s:
                rows = (await s.execute(select(OutboxMessage.step, OutboxMessage.status).where(
                    OutboxMessage.case_id == cid))).all()
            settled = not any(status in ("pending", "connecting", "sending")
                              for _, status in rows)
            if settled and any(step == "lcspr_full_report" for step, _ in rows):
                break
            if settled and any(e.kind is EventKind.MAIL_FAILED and "lcspr_full_report" in e.detail
                               for e in (await review.query("review", result_type=LocalReviewState)
                                         ).events):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"the LCSPR's full-report letter was not handed over within 30 s: {rows}")
        mailed = len(rows)

        case = await handle.execute_update(
            "withdraw", withdrawal("A duplicate of the case notified on Monday",
                                   duplicate_of=DUPLICATE), result_type=CaseState)
        assert (case.stage, case.outcome) == (Stage.CLOSED, Outcome.WITHDRAWN)
        assert case.withdrawal is not None
        assert case.withdrawal.actor == MARS
        assert case.withdrawal.duplicate_of == DUPLICATE
        withdrawn = next(e for e in case.events if e.kind is EventKind.WITHDRAWN)
        assert (withdrawn.detail, withdrawn.actor) == (f"duplicate of {DUPLICATE}", MARS)
        # The LCSPR ended with the case, and the plan with it, before the answer came.
        assert [e.detail for e in case.events
                if e.kind is EventKind.LOCAL_REVIEW_ENDED] == ["withdrawn"]
        # The audit trail keeps everything: every record made before is still there.
        assert case.step(Step.RAPID_REVIEW_MEETING).completion is not None
        assert any(e.kind is EventKind.RECORDED for e in case.events)

        result = CaseResult.model_validate(await handle.result())
        assert result.outcome is Outcome.WITHDRAWN
        assert ActionPlanResult.model_validate(await plan.result()) == ActionPlanResult(
            case_id=cid, withdrawn=True)
        await review.result()

        # Each workflow's history of the withdrawal replays (its code is deterministic).
        replayer = Replayer(workflows=[SeriousIncidentWorkflow, LocalReviewWorkflow,
                                       ActionPlanWorkflow],
                            data_converter=time_env.client.data_converter,
                            workflow_runner=WORKFLOW_RUNNER)
        for part in (handle, review, plan):
            await replayer.replay_workflow(await part.fetch_history())

        # Ninety days on: the report's reminder and escalation were due, and never came.
        await time_env.sleep(timedelta(days=90))
        async with sessions() as s:
            row = await s.get(Case, cid)
            assert row is not None
            assert (row.stage, row.outcome) == ("closed", "withdrawn")
            parts = {p.part: p.stage for p in await s.scalars(
                select(CasePart).where(CasePart.case_id == cid))}
            assert parts == {"local_review": ReviewStage.WITHDRAWN.value,
                             "action_plan": PlanStage.WITHDRAWN.value}
            events = (await s.scalars(select(AuditEvent).where(
                AuditEvent.case_id == cid).order_by(AuditEvent.id))).all()
            after = [e for e in events if e.at >= withdrawn.at]
            assert not [e for e in after if e.kind in ("reminder", "overdue")]
            assert {(e.part, e.kind) for e in after} >= {
                ("case", "withdrawn"), ("local_review", "withdrawn"),
                ("action_plan", "withdrawn")}
            assert len((await s.scalars(select(OutboxMessage.id).where(
                OutboxMessage.case_id == cid))).all()) == mailed


async def test_only_the_mars_team_withdraws_and_a_closed_case_not_again(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """The withdraw Update holds a named actor to the API's rule (the MARS team only), refuses
    a duplicate of itself, and a case already closed."""
    cid = f"CSPR-2026-WE{uuid.uuid4().hex[:6].upper()}"
    async with new_worker(time_env.client, sessions) as worker:
        handle = await start_case(time_env.client, worker.task_queue, cid,
                                  await time_env.get_current_time())
        await case_when(handle, lambda c: bool(c.clock_dates))
        dsp = WithdrawalMessage.model_validate({
            "withdrawal": {"reason": "Mine"},
            "actor": {"subject": "d@cspr.test", "role": "dsp", "organisation": "health"}})
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update("withdraw", dsp, result_type=CaseState)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update("withdraw", withdrawal(duplicate_of=cid),
                                        result_type=CaseState)
        case = await handle.query("case", result_type=CaseState)
        assert case.outcome is None
        assert case.withdrawal is None
        await handle.execute_update("withdraw", withdrawal(), result_type=CaseState)
        result = CaseResult.model_validate(await handle.result())
        assert result.outcome is Outcome.WITHDRAWN
        case = await handle.query("case", result_type=CaseState)
        assert [e.detail for e in case.events if e.kind is EventKind.WITHDRAWN] == [
            "entered in error"]


@pytest.mark.parametrize(("role", "org"), [("dsp", "health"), ("ssl", "police"),
                                      ("agency", "Council"), ("board", None),
                                      ("auditor", None), ("admin", None)])
async def test_the_api_refuses_every_role_but_the_mars_team(
    api: AsyncClient, role: str, org: str | None,
) -> None:
    case_id = await new_case(api)
    response = await api.post(f"/v1/cases/{case_id}/withdrawal", json={"reason": "Mistake"},
                              headers=as_role(role, org))
    assert_problem(response, 403)
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    assert case["outcome"] is None
    assert case["withdrawal"] is None


async def test_the_api_withdraws_once_and_409_on_a_closed_case(api: AsyncClient) -> None:
    """POST /v1/cases/{id}/withdrawal: bad input 422 naming the field, changing nothing; the
    withdrawal closes the case as withdrawn; a repeat with the same Idempotency-Key gets the
    first answer; another withdrawal of the closed case is 409."""
    case_id = await new_case(api)
    url = f"/v1/cases/{case_id}/withdrawal"
    assert_problem(await api.post(url, json={"reason": ""}), 422, "reason")
    assert_problem(await api.post(url, json={"reason": "x", "duplicate_of": "nope"}), 422,
                   "duplicate_of")
    assert_problem(await api.post(url, json={"reason": "x", "duplicate_of": case_id}), 422,
                   "duplicate_of")
    assert_problem(await api.post(url, json={"reason": "x", "extra": 1}), 422)
    assert (await api.get(f"/v1/cases/{case_id}")).json()["outcome"] is None

    key = {"Idempotency-Key": f"withdraw-{case_id}"}
    body = {"reason": "Notified twice", "duplicate_of": DUPLICATE}
    first = await api.post(url, json=body, headers=key)
    assert first.status_code == 200, first.text
    case = first.json()
    assert (case["stage"], case["outcome"]) == ("closed", "withdrawn")
    assert case["withdrawal"]["reason"] == "Notified twice"
    assert case["withdrawal"]["duplicate_of"] == DUPLICATE
    assert case["withdrawal"]["actor"]["role"] == "mars_team"
    assert [e["detail"] for e in case["events"] if e["kind"] == "withdrawn"] == [
        f"duplicate of {DUPLICATE}"]
    again = await api.post(url, json=body, headers=key)
    assert again.status_code == 200
    assert again.json()["outcome"] == "withdrawn"
    assert_problem(await api.post(url, json={"reason": "Again"}), 409)
    # Nothing more can be recorded on it.
    assert_problem(await api.post(f"/v1/cases/{case_id}/inform-partners", json={}), 409)


async def test_openapi_describes_the_withdrawal(api: AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    post = spec["paths"]["/v1/cases/{case_id}/withdrawal"]["post"]
    assert "withdrawn" in post["description"]
    assert "mars_team" in post["description"]

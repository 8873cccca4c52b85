"""Whole cases on the time-skipping server, with the real workflows: a serious case from its
notification to the MARS Board's sign-off of the action plan, and a Flowchart 4 request to the
same, each with a late publication and an overdue action. The case, its LCSPR and its action
plan run as parent, child and grandchild; the API reads them as partners would.

Records go in as signals (Updates are unreliable on the time-skipping server; each workflow's
own tests drive them on the dev server); reads go through the real API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from domain.action_plan import ActionPlanState
from domain.calendar import WorkingDayCalendar, add_calendar_months
from domain.case import CaseState, EventKind, Outcome, Stage
from domain.families import FamilyDecision
from domain.local_review import LocalReviewState, ReviewStage
from domain.local_review_records import LocalReviewStep
from domain.reviews import LocalReviewResult, ReviewKind
from infra.settings import Settings
from store.db import Sessionmaker
from tests.action_plans import plan_when
from tests.action_plans import sign_off as plan_sign_off
from tests.action_plans import signal as plan_signal
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS, as_role, http_client, new_worker
from tests.factories import case_when, signal, start_case, start_request
from tests.local_reviews import REPORT, by_signal, dsp, review_when, to_publication, to_review
from tests.scenarios import at_london, rapid_review_to_submission, travel_to
from workflows.case_workflow import CaseResult
from workflows.ids import action_plan_id, local_review_id

S = LocalReviewStep
CAL = WorkingDayCalendar()
PARTNERS = ("local_authority", "health", "police")
Handle = WorkflowHandle[Any, Any]


def next_monday(after: date) -> date:
    day = after + timedelta(days=7)
    return day - timedelta(days=day.weekday())


@pytest.fixture
async def worker(time_env: WorkflowEnvironment, sessions: Sessionmaker) -> AsyncIterator[Worker]:
    async with new_worker(time_env.client, sessions) as running:
        yield running


@pytest.fixture
async def api(time_env: WorkflowEnvironment, sessions: Sessionmaker,
              worker: Worker) -> AsyncIterator[AsyncClient]:
    """The real API on the time-skipping server and the case store, reading as the MARS team."""
    settings = Settings(encryption_keys=TEST_KEYS, task_queue=worker.task_queue,
                        jwt_secret=TEST_JWT_SECRET)
    app = create_app(settings, time_env.client, sessions)
    async with app.router.lifespan_context(app), http_client(app, as_role("mars_team")) as http:
        yield http


async def read(api: AsyncClient, case_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/cases/{case_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def read_when(api: AsyncClient, case_id: str, part: str, key: str,
                    value: object) -> dict[str, Any]:
    """The case once its part shows `key == value` (each child projects itself in its time)."""
    for _ in range(200):
        case = await read(api, case_id)
        if case[part] is not None and case[part][key] == value:
            return case
        await asyncio.sleep(0.05)
    raise AssertionError(f"{part}.{key} never became {value!r}: {case[part]}")


def started(case: CaseState) -> bool:
    """The case has started its LCSPR."""
    return case.stage is Stage.LOCAL_REVIEW and any(
        e.kind is EventKind.LOCAL_REVIEW_STARTED for e in case.events)


async def overdue_listed(api: AsyncClient) -> set[str]:
    page = (await api.get("/v1/cases", params={"overdue": "true", "limit": 200})).json()
    return {c["case_id"] for c in page["items"]}


async def lcspr_to_the_boards_sign_off(
    env: WorkflowEnvironment, api: AsyncClient, case: Handle, kind: ReviewKind,
) -> tuple[date, date, date]:
    """The case's LCSPR, published late, and its action plan with an overdue action, to the
    Board's sign-off; returns the publication's due date (statutory for a serious case, local
    for a request), its actual date, and the sign-off's."""
    cid = case.id
    review = env.client.get_workflow_handle(local_review_id(cid))
    state = await review_when(review, lambda r: r.clock_l is not None
                              and r.task(S.PUBLISHED).due_date is not None)
    big_l = state.clock_l
    assert big_l is not None
    six_months = add_calendar_months(big_l, 6)
    assert state.task(S.PUBLISHED).due_date == six_months
    assert state.task(S.PUBLISHED).statutory is (kind is ReviewKind.SERIOUS_INCIDENT)
    assert (await read_when(api, cid, "local_review", "stage", "terms_of_reference"))[
        "local_review"]["workflow_id"] == f"{cid}-LCSPR"

    send = by_signal(review)
    if kind is ReviewKind.SERIOUS_INCIDENT:
        await send("inform_panel", reviewer_name="A. Reviewer")
    await to_review(send, request=kind is ReviewKind.REQUEST)
    # An inquest will delay publication beyond the six months: the partners say so.
    expected = add_calendar_months(big_l, 7)
    await send("publication_delayed", reasons="Inquest listed",
               new_expected_date=expected.isoformat())
    await to_publication(send)
    await review_when(review, lambda r: r.stage is ReviewStage.PUBLICATION
                      and r.action_plan.workflow_id is not None)
    # Issue 9, "Families": the final report endorsed, its case owes the family the rationale.
    told = await case_when(case, lambda c: any(
        o.decision is FamilyDecision.FINAL_REPORT for o in c.families.owed))
    assert told.families.enabled

    # The action plan: one action per recommendation; the first due in three weeks.
    plan = env.client.get_workflow_handle(action_plan_id(cid))
    await plan_when(plan, lambda p: p.stage.value == "devising")
    today = (await env.get_current_time()).date()
    soon, later = today + timedelta(days=21), add_calendar_months(today, 8)
    for n, due in enumerate((soon, later), start=1):
        await plan_signal(plan, "add_action", recommendation=n, owner="NHS Trust",
                          what=REPORT["improvements_summary"][n - 1], due_date=due)
    await plan_when(plan, lambda p: len(p.actions) == 2 and all(a.due.deadline_at
                                                                for a in p.actions))
    case_read = await read_when(api, cid, "action_plan", "stage", "monitoring")
    assert case_read["action_plan"]["workflow_id"] == f"{cid}-ACTION-PLAN"

    # The first action's date passes: it is overdue, escalated, and so is the case as a whole.
    await travel_to(env, at_london(soon + timedelta(days=1), 10))
    overdue_plan: ActionPlanState = await plan_when(
        plan, lambda p: p.action("A1") is not None and p.action("A1").overdue)  # type: ignore[union-attr]
    assert [e.kind for e in overdue_plan.events if e.kind is EventKind.OVERDUE]
    case_read = await read_when(api, cid, "action_plan", "overdue", True)
    assert case_read["overdue"] is True
    assert cid in await overdue_listed(api)
    await plan_signal(plan, "complete_action", action_id="A1", evidence="Training delivered")
    await plan_when(plan, lambda p: p.action("A1").status.value == "completed")  # type: ignore[union-attr]

    # The report goes out seven working days before publication; the six months pass first.
    if kind is ReviewKind.SERIOUS_INCIDENT:
        await send("report_sent")
    while CAL.add_working_days(expected, -7) < (await env.get_current_time()).date():
        expected += timedelta(days=7)
    await send("publication_planned", publication_date=expected.isoformat())
    await travel_to(env, at_london(six_months + timedelta(days=1), 10))
    state = await review_when(review, lambda r: any(
        e.kind is EventKind.OVERDUE and e.task == "published" for e in r.events))
    await travel_to(env, at_london(expected, 10))
    await send("published", published_on=expected.isoformat())
    state = await review_when(review, lambda r: r.stage is ReviewStage.ACTION_PLAN)
    assert state.task(S.PUBLISHED).status.value == "done_late"

    # The rest of the plan, and the Board's sign-off: the LCSPR completes, then the case.
    await plan_signal(plan, "complete_action", action_id="A2", evidence="Protocol in use")
    await plan_when(plan, lambda p: p.stage.value == "ready_for_signoff")
    await plan_signal(plan, "no_equality_action", reason="No issue of inequality found")
    await plan_sign_off(plan)
    signed = await plan_when(plan, lambda p: p.signed_off_on is not None)
    assert signed.signed_off_on is not None
    return six_months, expected, signed.signed_off_on


async def test_a_serious_case_from_notification_to_the_boards_sign_off(
    time_env: WorkflowEnvironment, worker: Worker, api: AsyncClient,
) -> None:
    monday = next_monday((await time_env.get_current_time()).date())
    await travel_to(time_env, at_london(monday, 10))
    cid = "CSPR-2026-E2E001"
    case = await start_case(time_env.client, worker.task_queue, cid,
                            await time_env.get_current_time(),
                            children=[{"reference": "E2E-SERIOUS-1"}])
    await case_when(case, lambda c: bool(c.clock_dates))

    async def send(step: str, **fields: Any) -> None:
        count = len((await case.query("case", result_type=CaseState)).records)
        await signal(case, step, **fields)
        await case_when(case, lambda c: len(c.records) > count)

    await send("inform_partners")
    await send("ssl_recommendation", criteria_met=True, recommend_panel_notification=True,
               rationale="Unexplained injuries")
    for partner in PARTNERS:
        await send("dsp_decision", partner=partner, criteria_met=True, rationale="Agreed")
    await send("panel_notification", notified_at=await time_env.get_current_time(),
               reference="CSPN-E2E-1")
    await rapid_review_to_submission(send, ["North Lincolnshire Council", "NHS Trust"])
    state = await case_when(case, started)
    assert (await read(api, cid))["stage"] == "local_review"

    six_months, published_on, signed_off = await lcspr_to_the_boards_sign_off(
        time_env, api, case, ReviewKind.SERIOUS_INCIDENT)
    result = await case.result()
    assert result == CaseResult(case_id=cid, outcome=Outcome.LOCAL_REVIEW,
                                local_review=LocalReviewResult(
                                    case_id=cid, published=True,
                                    action_plan_signed_off_on=signed_off))
    assert published_on > six_months
    case_read = await read(api, cid)
    assert (case_read["stage"], case_read["outcome"], case_read["overdue"]) == (
        "closed", "local_review", False)
    assert case_read["local_review"]["stage"] == "completed"
    assert case_read["action_plan"]["stage"] == "signed_off"
    trail = (await api.get(f"/v1/cases/{cid}/events")).json()
    escalations = {(e["part"], e["detail"].split(" ")[0]) for e in trail if e["kind"] == "overdue"}
    assert ("local_review", "published") in escalations
    assert any(part == "action_plan" for part, _ in escalations)
    assert [e["detail"] for e in trail if e["kind"] == "local_review_ended"] == ["completed"]
    assert state.local_review_decided is not None


async def test_a_flowchart_4_request_to_its_sign_off(
    time_env: WorkflowEnvironment, worker: Worker, api: AsyncClient,
) -> None:
    monday = next_monday((await time_env.get_current_time()).date())
    await travel_to(time_env, at_london(monday, 10))
    cid = "CSPR-2026-E2E002"
    case = await start_request(time_env.client, worker.task_queue, cid,
                               await time_env.get_current_time(), category="near_miss")
    await case_when(case, lambda c: bool(c.clock_dates))
    await signal(case, "inform_partners")
    await signal(case, "ssl_recommendation", criteria_met=True, rationale="A near miss")
    for partner in PARTNERS:
        await signal(case, "dsp_decision", actor=dsp(partner), partner=partner,
                     criteria_met=True, rationale="Agreed", completed_on=monday.isoformat())
    await case_when(case, started)
    review: LocalReviewState = await review_when(
        time_env.client.get_workflow_handle(local_review_id(cid)),
        lambda r: r.clock_l is not None)
    assert (review.clock_l, review.kind) == (monday, ReviewKind.REQUEST)
    assert review.task(S.INFORM_PANEL).status.value == "not_required"

    *_, signed_off = await lcspr_to_the_boards_sign_off(time_env, api, case, ReviewKind.REQUEST)
    result = await case.result()
    assert result == CaseResult(case_id=cid, outcome=Outcome.LOCAL_REVIEW,
                                local_review=LocalReviewResult(
                                    case_id=cid, published=True,
                                    action_plan_signed_off_on=signed_off))
    case_read = await read(api, cid)
    assert (case_read["kind"], case_read["stage"], case_read["overdue"]) == (
        "request", "closed", False)
    assert case_read["action_plan"]["stage"] == "signed_off"

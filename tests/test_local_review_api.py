"""The LCSPR through the real API, dev server, worker and case store: each step recorded by
its role as an Update, and every kind of refusal (401, 403, 404, 409, 422).

The case starts its LCSPR in production; here the test starts it directly for a case created
through the API.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.calendar import WorkingDayCalendar, add_calendar_months, london_date
from tests.conftest import as_role
from tests.local_reviews import PARTNERS, REPORT, REVIEWER, TERMS, start_review
from tests.reviewers import assign_reviewer

MARS, REVIEWER_ROLE, BOARD = as_role("mars_team"), as_role("reviewer"), as_role("board")
CAL = WorkingDayCalendar()


def dsp(partner: str) -> dict[str, str]:
    return as_role("dsp", partner)


async def new_review(api: AsyncClient, dev_env: WorkflowEnvironment, worker: Worker,
                     decided_on: date) -> str:
    created = await api.post("/v1/notifications", json={
        "notifying_agency": "Humberside Police",
        "incident": {"date": (datetime.now(UTC) - timedelta(days=90)).date().isoformat(),
                     "harm": "serious_harm", "abuse_or_neglect": "suspected"},
        "children": [{"reference": f"NL-LCSPR-{uuid.uuid4().hex[:6]}"}],
    })
    assert created.status_code == 201, created.text
    case_id: str = created.json()["case_id"]
    await assign_reviewer(api, case_id)
    await start_review(dev_env.client, worker.task_queue, case_id, decided_on)
    for _ in range(600):  # up to 30 s: a start, an activity and a projection under CI load
        read = await api.get(f"/v1/cases/{case_id}/local-review")
        if read.status_code == 200 and read.json()["next_deadline"]:
            return case_id
        await asyncio.sleep(0.05)
    raise AssertionError("the local review never opened")


async def post(api: AsyncClient, case_id: str, step: str, headers: dict[str, str],
               **fields: Any) -> Response:
    return await api.post(f"/v1/cases/{case_id}/local-review/{step}", json=fields,
                          headers=headers)


async def ok(api: AsyncClient, case_id: str, step: str, headers: dict[str, str],
             **fields: Any) -> dict[str, Any]:
    response = await post(api, case_id, step, headers, **fields)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    found: dict[str, Any] = response.json()
    return found


def task(review: dict[str, Any], key: str) -> dict[str, Any]:
    return next(t for t in review["tasks"] if t["key"] == key)


async def read_until(api: AsyncClient, case_id: str,
                     ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Read the review (as the board) until `ready` holds: timers fire asynchronously."""
    for _ in range(600):  # up to 30 s: a start, an activity and a projection under CI load
        review: dict[str, Any] = (await api.get(f"/v1/cases/{case_id}/local-review",
                                                headers=BOARD)).json()
        if ready(review):
            return review
        await asyncio.sleep(0.05)
    raise AssertionError("the local review never became ready")


@pytest.fixture(scope="module")
async def case_id(api: AsyncClient, dev_env: WorkflowEnvironment, dev_worker: Worker) -> str:
    """A serious case whose LCSPR was decided 60 days ago."""
    today = london_date(datetime.now(UTC))
    return await new_review(api, dev_env, dev_worker, today - timedelta(days=60))


async def test_a_local_review_recorded_by_each_role_through_the_api(
    api: AsyncClient, case_id: str
) -> None:
    today = london_date(datetime.now(UTC))
    decided = today - timedelta(days=60)
    # L+5 working days passed long ago: escalated as soon as the review opened.
    review = await read_until(api, case_id,
                              lambda r: task(r, "inform_panel")["status"] == "overdue")
    assert (review["stage"], review["decided_on"], review["kind"]) == (
        "terms_of_reference", decided.isoformat(), "serious_incident")
    assert task(review, "published")["due_date"] == add_calendar_months(decided, 6).isoformat()
    assert task(review, "published")["deadline"] == "statutory"

    await ok(api, case_id, "inform-panel", MARS, reviewer_name="A. Reviewer")
    await ok(api, case_id, "terms-of-reference", MARS, **TERMS)
    for p in PARTNERS:
        await ok(api, case_id, "tor-endorsement", dsp(p), partner=p)
    review = await ok(api, case_id, "reviewer-commissioned", MARS,
                      completed_on=(decided + timedelta(days=1)).isoformat(), **REVIEWER)
    assert review["stage"] == "review"
    assert [p["party"] for p in task(review, "tor_endorsement")["parties"]] == list(PARTNERS)

    await ok(api, case_id, "supervision-request", MARS, request="Progress and quality")
    review = await ok(api, case_id, "progress-return", REVIEWER_ROLE, request=1,
                      progress="Chronologies merged")
    assert task(review, "progress_return#1")["status"] == "done"
    await ok(api, case_id, "learning", MARS, learning="Phone referrals",
             corrective_action="Confirmed in writing", disseminated=True)
    await ok(api, case_id, "final-report", REVIEWER_ROLE, **REPORT)
    for p in PARTNERS:
        review = await ok(api, case_id, "report-endorsement", dsp(p), partner=p)
    assert review["stage"] == "publication"
    assert review["action_plan"]["workflow_id"] == f"{case_id}-ACTION-PLAN"

    # Tomorrow leaves no time to send the report 7 working days before: refused (the rule
    # needs the calendar, so the workflow checks it after computing the date).
    tomorrow = today + timedelta(days=1)
    refused = problem(await post(api, case_id, "publication-planned", MARS,
                                 publication_date=tomorrow.isoformat()), 422)
    assert [e["field"] for e in refused["errors"]] == ["publication_date"]
    assert "7 working days" in refused["errors"][0]["reason"]

    sent = today - timedelta(days=20)
    await ok(api, case_id, "report-sent", MARS, completed_on=sent.isoformat())
    planned = CAL.add_working_days(today, 3)
    review = await ok(api, case_id, "publication-planned", MARS,
                      publication_date=planned.isoformat())
    assert review["expected_publication"] == planned.isoformat()
    review = await ok(api, case_id, "published", MARS, published_on=today.isoformat())
    assert review["stage"] == "action_plan"
    assert review["earliest_removal"] == add_calendar_months(today, 12).isoformat()
    assert task(review, "published")["status"] == "done"

    trail = (await api.get(f"/v1/cases/{case_id}/events")).json()
    lcspr = [e for e in trail if e["part"] == "local_review"]
    assert {(e["actor_role"], e["actor_organisation"]) for e in lcspr
            if e["detail"].startswith("report_endorsement")} == {
        ("dsp", p) for p in PARTNERS}
    assert any(e["detail"].startswith("progress_return#1") and e["actor_role"] == "reviewer"
               for e in lcspr)


async def test_refusals_name_the_field_or_the_step(api: AsyncClient, case_id: str) -> None:
    fresh = await api.get(f"/v1/cases/{case_id}/local-review")
    before = len(fresh.json()["events"])
    no_bias = {k: v for k, v in TERMS.items() if k != "race_racism_bias"}
    refused = problem(await post(api, case_id, "terms-of-reference", MARS, **no_bias), 422)
    assert [e["field"] for e in refused["errors"]] == ["race_racism_bias"]
    analysis = {k: v for k, v in REPORT["equality_analysis"].items() if k != "poverty"}
    refused = problem(await post(api, case_id, "final-report", REVIEWER_ROLE,
                                 **{**REPORT, "equality_analysis": analysis}), 422)
    assert [e["field"] for e in refused["errors"]] == ["equality_analysis.poverty"]
    # The wrong role before the body is read; the wrong partner naming the field.
    problem(await post(api, case_id, "final-report", MARS, nonsense=True), 403)
    problem(await post(api, case_id, "progress-return", BOARD, request=1, progress="x"), 403)
    wrong = problem(await post(api, case_id, "report-endorsement", dsp("police"),
                               partner="health"), 403)
    assert [e["field"] for e in wrong["errors"]] == ["partner"]
    after = await api.get(f"/v1/cases/{case_id}/local-review")
    assert len(after.json()["events"]) == before


async def test_the_decision_not_to_publish_is_each_partners(
    api: AsyncClient, case_id: str
) -> None:
    """Issue 9, item 8: "safeguarding partners must publish the report, unless they consider
    it inappropriate to do so": each partner's DSP agrees for its own partner; the MARS team
    records the decision but cannot agree for the partners; and with no decision recorded there
    is nothing to agree to (409)."""
    problem(await post(api, case_id, "not-published-agreement", MARS, partner="health"), 403)
    wrong = problem(await post(api, case_id, "not-published-agreement", dsp("police"),
                               partner="health"), 403)
    assert [e["field"] for e in wrong["errors"]] == ["partner"]
    early = problem(await post(api, case_id, "not-published-agreement", dsp("health"),
                               partner="health"), 409)
    assert early["errors"][0]["field"] == "step"
    after = (await api.get(f"/v1/cases/{case_id}/local-review")).json()
    assert not [e for e in after["events"] if e["task"] == "not_published_agreement"]
    assert not [t for t in after["tasks"] if t["key"] == "not_published_agreement"]


async def test_consent_is_a_flowchart_4_reviews_only(api: AsyncClient, case_id: str) -> None:
    """"Where reviews are undertaken in cases which are not 'serious child safeguarding
    cases' then consent to complete the review must be sought": the MARS team records it (403
    for a DSP), a serious case's review takes none (409), and without consent the
    data-protection check is required (422 naming it)."""
    asked = {"sought_from": "The child's mother", "sought_on": "2026-01-05"}
    problem(await post(api, case_id, "consent", dsp("health"), **asked, given=True), 403)
    missing = problem(await post(api, case_id, "consent", MARS, **asked, given=False), 422)
    assert [e["field"] for e in missing["errors"]] == ["data_protection_check"]
    problem(await post(api, case_id, "consent", MARS, **asked, given=True), 409)


async def test_steps_out_of_turn_are_409(
    api: AsyncClient, dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    today = london_date(datetime.now(UTC))
    case_id = await new_review(api, dev_env, dev_worker, today)
    early = problem(await post(api, case_id, "final-report", REVIEWER_ROLE, **REPORT), 409)
    assert early["errors"] == [{"field": "step",
                                "reason": "not open at stage terms_of_reference"}]
    problem(await post(api, case_id, "tor-endorsement", dsp("health"), partner="health"), 409)
    serious = problem(await post(api, case_id, "consent", MARS, sought_from="The mother",
                                 sought_on="2026-01-05", given=True), 409)
    assert "Flowchart 4 review only" in serious["errors"][0]["reason"]
    # A reviewer with direct involvement: refused by the service's own rule (the default of
    # CSPR_REVIEWER_INVOLVEMENT; Appendix 5 asks that "consideration will be given").
    refused = problem(await post(api, case_id, "reviewer-commissioned", MARS,
                                 **{**REVIEWER, "no_direct_involvement": False}), 422)
    assert [e["field"] for e in refused["errors"]] == ["no_direct_involvement"]
    assert "service's own rule" in refused["errors"][0]["reason"]
    await ok(api, case_id, "reviewer-commissioned", MARS, **REVIEWER)
    twice = problem(await post(api, case_id, "reviewer-commissioned", MARS, **REVIEWER), 409)
    assert twice["errors"][0]["reason"] == "already recorded"
    # The same Idempotency-Key gives the same answer, and the record is made once.
    key = {"Idempotency-Key": str(uuid.uuid4()), **MARS}
    first = await post(api, case_id, "learning", key, learning="Phone referrals")
    again = await post(api, case_id, "learning", key, learning="Phone referrals")
    assert (first.status_code, again.json()) == (200, first.json())
    review = (await api.get(f"/v1/cases/{case_id}/local-review")).json()
    assert sum(1 for e in review["events"] if e["task"] == "learning") == 1


async def test_reading_needs_a_reader_and_a_review(
    api: AsyncClient, anonymous: AsyncClient, case_id: str
) -> None:
    path = f"/v1/cases/{case_id}/local-review"
    assert (await anonymous.get(path)).status_code == 401
    problem(await api.get(path, headers=as_role("agency", "NHS Trust")), 403)
    for role in ("board", "auditor", "reviewer", "admin"):
        assert (await api.get(path, headers=as_role(role))).status_code == 200
    missing = problem(await api.get("/v1/cases/CSPR-2026-NOLCSPR1/local-review"), 404)
    assert missing["title"] == "Local review not found"
    problem(await post(api, "CSPR-2026-NOLCSPR1", "learning", MARS, learning="x"), 404)

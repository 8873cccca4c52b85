"""The workspace's forms and the API are one set of rules: the same input through each door
gets the same answer (the same fields, the same words), a refused form changes nothing, a form
sent twice is recorded once, and a role is shown and allowed only what the permissions table
gives it. Through the real app (ASGI), dev server, worker and case store."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.calendar import london_date
from domain.permissions import Role
from store.db import Sessionmaker
from store.models import CasePart
from tests.conftest import as_role, http_client
from tests.reviewers import assign_reviewer
from tests.test_action_plan_api import plan_for
from tests.test_local_review_api import new_review
from web import session

NOTIFICATION = {
    "notifying_agency": "Humberside Police",
    "incident": {"date": "2026-11-20", "harm": "serious_harm", "abuse_or_neglect": "suspected"},
}


def cookie_for(app: FastAPI, role: str, org: str | None = None) -> tuple[dict[str, str], str]:
    """A signed-in session's cookie (as the sign-in page gives), and its form token."""
    person = session.new_person(f"{role}-tester@cspr.test", "Tester", Role(role), org)
    return {session.COOKIE: session.encode(app.state.settings, person)}, person.csrf


@pytest.fixture
async def browser_of(api_app: FastAPI) -> AsyncIterator[Any]:
    clients: list[AsyncClient] = []

    def make(role: str, org: str | None = None) -> tuple[AsyncClient, str]:
        cookies, csrf = cookie_for(api_app, role, org)
        client = http_client(api_app)
        client.cookies.update(cookies)
        clients.append(client)
        return client, csrf

    yield make
    for c in clients:
        await c.aclose()


def page_errors(text: str) -> dict[str, str]:
    """The errors a form page shows by its fields: {field id: message}."""
    found = re.findall(r'<p id="([\w.-]+)-error" class="govuk-error-message">\s*'
                       r'<span class="govuk-visually-hidden">Error:</span>\s*([^<]*)<', text)
    return {field: html.unescape(message).strip() for field, message in found}


def api_errors(problem: dict[str, Any]) -> dict[str, str]:
    return {e["field"].replace(".", "-"): e["reason"] for e in problem["errors"]}


async def new_case(api: AsyncClient) -> str:
    body = {**NOTIFICATION, "children": [{"reference": f"NL-{uuid.uuid4().hex[:6].upper()}"}]}
    r = await api.post("/v1/notifications", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["case_id"])


async def events(api: AsyncClient, case_id: str) -> list[str]:
    return [e["kind"] for e in (await api.get(f"/v1/cases/{case_id}")).json()["events"]]


async def test_the_form_and_the_api_refuse_the_same_input_with_the_same_words(
    api: AsyncClient, browser_of: Any,
) -> None:
    case_id = await new_case(api)
    assert (await api.post(f"/v1/cases/{case_id}/inform-partners", json={})).status_code == 200
    before = await events(api, case_id)

    # Missing answers: 422 naming each field.
    ssl_api = await api.post(f"/v1/cases/{case_id}/ssl-recommendation", json={},
                             headers=as_role("ssl", "health"))
    web, csrf = browser_of("ssl", "health")
    form = await web.post(f"/cases/{case_id}/steps/ssl-recommendation",
                          data={"csrf_token": csrf, "idempotency_key": str(uuid.uuid4())})
    assert ssl_api.status_code == form.status_code == 422
    assert page_errors(form.text) == api_errors(ssl_api.json()) == {
        "criteria_met": "Field required", "rationale": "Field required"}

    # A step not open at the case's stage: 409, in the same words.
    late_api = await api.post(f"/v1/cases/{case_id}/rapid-review-report", json={})
    mars, mars_csrf = browser_of("mars_team")
    late = await mars.post(f"/cases/{case_id}/steps/rapid-review-report",
                           data={"csrf_token": mars_csrf, "idempotency_key": str(uuid.uuid4())})
    assert late_api.status_code == late.status_code == 409
    assert html.escape(late_api.json()["detail"], quote=True) in late.text

    # Another partner's decision: 403 by the partner field, in the same words.
    await api.post(f"/v1/cases/{case_id}/ssl-recommendation", headers=as_role("ssl", "health"),
                   json={"criteria_met": True, "recommend_panel_notification": True,
                         "rationale": "Met"})
    decision = {"partner": "health", "criteria_met": True, "rationale": "Agree"}
    other_api = await api.post(f"/v1/cases/{case_id}/dsp-decision", json=decision,
                               headers=as_role("dsp", "police"))
    dsp, dsp_csrf = browser_of("dsp", "police")
    other = await dsp.post(f"/cases/{case_id}/steps/dsp-decision", data={
        "csrf_token": dsp_csrf, "idempotency_key": str(uuid.uuid4()), "partner": "health",
        "criteria_met": "true", "rationale": "Agree"})
    assert other_api.status_code == other.status_code == 403
    assert page_errors(other.text) == api_errors(other_api.json())
    assert "partner" in page_errors(other.text)

    # Nothing refused changed the case: only the SSLs' record (by the API) is new.
    after = await events(api, case_id)
    assert [e for e in after[len(before):] if e == "recorded"] == ["recorded"]


async def test_a_form_sent_twice_is_recorded_once(api: AsyncClient, browser_of: Any) -> None:
    case_id = await new_case(api)
    await api.post(f"/v1/cases/{case_id}/inform-partners", json={})
    web, csrf = browser_of("ssl", "police")
    data = {"csrf_token": csrf, "idempotency_key": str(uuid.uuid4()), "criteria_met": "true",
            "recommend_panel_notification": "true", "rationale": "Met"}
    first = await web.post(f"/cases/{case_id}/steps/ssl-recommendation", data=data)
    again = await web.post(f"/cases/{case_id}/steps/ssl-recommendation", data=data)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"] == f"/cases/{case_id}"
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    recorded = [e for e in case["events"] if e["kind"] == "recorded"
                and e["step"] == "ssl_recommendation"]
    assert len(recorded) == 1


async def test_a_role_sees_and_may_post_only_what_the_permissions_table_gives(
    api: AsyncClient, browser_of: Any,
) -> None:
    case_id = await new_case(api)
    auditor, csrf = browser_of("auditor")
    page = await auditor.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert 'href="/notifications/new"' not in page.text  # no button it may not use
    assert f'href="/cases/{case_id}/steps/' not in page.text
    refused = await auditor.post(f"/cases/{case_id}/steps/inform-partners",
                                 data={"csrf_token": csrf, "idempotency_key": "k"})
    assert refused.status_code == 403
    assert (await api.get(f"/v1/cases/{case_id}")).json()["stage"] == "notified"
    mars, _ = browser_of("mars_team")
    assert f'href="/cases/{case_id}/steps/inform-partners"' in (
        await mars.get(f"/cases/{case_id}")).text
    # Without the session's form token a post changes nothing.
    forged = await mars.post(f"/cases/{case_id}/steps/inform-partners",
                             data={"csrf_token": "forged", "idempotency_key": "k2"})
    assert forged.status_code == 403
    assert (await api.get(f"/v1/cases/{case_id}")).json()["letters_in_flight"] == []


async def test_signing_in_and_out(api_app: FastAPI, browser_of: Any) -> None:
    async with http_client(api_app) as anonymous:
        assert (await anonymous.get("/work")).status_code == 303
        page = await anonymous.get("/sign-in")
        assert page.status_code == 200
        # The form's token, and a cookie HttpOnly and SameSite.
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        refused = await anonymous.post("/sign-in/development",
                                       data={"person_id": "1", "csrf_token": "wrong"})
        assert refused.status_code == 403
    web, csrf = browser_of("mars_team")
    assert (await web.get("/work")).status_code == 200
    out = await web.post("/sign-out", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert session.COOKIE in out.headers["set-cookie"]
    web.cookies.clear()
    assert (await web.get("/work")).status_code == 303
    # An expired or forged session is no session.
    settings = api_app.state.settings
    person = session.new_person("a@cspr.test", "A", Role.MARS_TEAM, None)
    value = session.encode(settings, person)
    assert session.decode(settings, value) == person
    assert session.decode(settings, value, now=person.expires + 1) is None
    assert session.decode(settings, value[:-2] + "AA") is None
    assert datetime.fromtimestamp(person.expires, UTC) > datetime.now(UTC)


async def test_the_api_docs_are_served_offline(anonymous: AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await anonymous.get(path)
        assert page.status_code == 200
        assert "cdn" not in page.text.lower()
        assert "googleapis" not in page.text
    for asset in ("/static/swagger-ui/swagger-ui-bundle.js", "/static/redoc/redoc.standalone.js",
                  "/static/govuk/govuk-frontend.min.css", "/assets/images/favicon.ico"):
        assert (await anonymous.get(asset)).status_code == 200, asset


async def test_the_lcspr_in_my_work_on_the_case_page_and_by_its_forms(
    api: AsyncClient, browser_of: Any, dev_env: WorkflowEnvironment, dev_worker: Worker,
) -> None:
    today = london_date(datetime.now(UTC))
    case_id = await new_review(api, dev_env, dev_worker, today - timedelta(days=3))
    mars, csrf = browser_of("mars_team")
    form_path = f"/cases/{case_id}/local-review/inform-panel"
    for _ in range(100):  # My work reads the store's copy, which follows the workflow
        work = (await mars.get("/work")).text
        if form_path in work:
            break
        await asyncio.sleep(0.1)
    assert form_path in work
    page = (await mars.get(f"/cases/{case_id}")).text
    assert 'id="local-review"' in page
    assert form_path in page
    # Refused as the API refuses it (a name too long: from procedure r4 the name itself may
    # follow, as the reviewer's own record); then recorded once.
    api_refusal = await api.post(f"/v1/cases/{case_id}/local-review/inform-panel",
                                 json={"reviewer_name": "x" * 201})
    refused = await mars.post(form_path, data={"csrf_token": csrf, "idempotency_key": "a1",
                                               "reviewer_name": "x" * 201})
    assert refused.status_code == api_refusal.status_code == 422
    assert page_errors(refused.text) == api_errors(api_refusal.json())
    reviewer, reviewer_csrf = browser_of("reviewer")
    assert form_path not in (await reviewer.get(f"/cases/{case_id}")).text
    assert (await reviewer.post(form_path, data={"csrf_token": reviewer_csrf,
                                                 "reviewer_name": "R"})).status_code == 403
    done = await mars.post(form_path, data={"csrf_token": csrf, "idempotency_key": "a2",
                                            "reviewer_name": "Jo Reviewer"})
    assert done.status_code == 303
    review = (await api.get(f"/v1/cases/{case_id}/local-review")).json()
    assert next(t for t in review["tasks"] if t["step"] == "inform_panel")["status"] in (
        "done", "done_late")


async def test_an_action_plan_from_its_first_action_to_the_boards_sign_off_by_its_forms(
    api: AsyncClient, browser_of: Any, dev_env: WorkflowEnvironment, dev_worker: Worker,
) -> None:
    case_id = await plan_for(api, dev_env, dev_worker)
    due = (london_date(datetime.now(UTC)) + timedelta(days=30))
    mars, csrf = browser_of("mars_team")
    page = (await mars.get(f"/cases/{case_id}")).text
    assert 'id="action-plan"' in page
    add = f"/cases/{case_id}/action-plan/add-action"
    assert add in page
    # The plan refuses a third recommendation in the API's words, by the field.
    bad = {"recommendation": "3", "what": "x", "owner": "y", "due_date-day": str(due.day),
           "due_date-month": str(due.month), "due_date-year": str(due.year)}
    api_bad = await api.post(f"/v1/cases/{case_id}/action-plan/add-action", json={
        "recommendation": 3, "what": "x", "owner": "y", "due_date": due.isoformat()})
    refused = await mars.post(add, data={"csrf_token": csrf, "idempotency_key": "p1", **bad})
    assert refused.status_code == api_bad.status_code == 422
    assert page_errors(refused.text) == api_errors(api_bad.json())
    added = await mars.post(add, data={"csrf_token": csrf, "idempotency_key": "p2", **bad,
                                       "recommendation": "1", "what": "Joint training",
                                       "owner": "North Lincolnshire Council"})
    assert added.status_code == 303
    # My work has the action to complete, linking to its form with the action's id.
    complete = f"/cases/{case_id}/action-plan/complete-action?action_id=A1"
    for _ in range(100):  # the store's copy of the plan follows the workflow
        work = (await mars.get("/work")).text
        if html.escape(complete) in work:
            break
        await asyncio.sleep(0.1)
    assert html.escape(complete) in work
    form = (await mars.get(complete)).text
    assert 'value="A1"' in form
    done = await mars.post(complete.split("?")[0], data={
        "csrf_token": csrf, "idempotency_key": "p3", "action_id": "A1",
        "evidence": "Training delivered to 40 staff"})
    assert done.status_code == 303
    # The group that runs the plan does not sign it off: each partner's DSP does.
    board, board_csrf = browser_of("board")
    assert f"/cases/{case_id}/action-plan/board-signoff" not in (
        await board.get(f"/cases/{case_id}")).text
    health, health_csrf = browser_of("dsp", "health")
    assert f"/cases/{case_id}/action-plan/board-signoff" in (
        await health.get(f"/cases/{case_id}")).text
    signoff = f"/cases/{case_id}/action-plan/board-signoff"
    early = await health.post(signoff, data={"csrf_token": health_csrf, "idempotency_key": "p4",
                                             "partner": "health"})
    assert early.status_code == 409
    assert "recommendations with no action: 2" in early.text
    await api.post(f"/v1/cases/{case_id}/action-plan/add-action", json={
        "recommendation": 2, "what": "Referrals", "owner": "Police", "due_date": due.isoformat(),
        "addresses_inequalities": True})
    closed = await mars.post(f"/cases/{case_id}/action-plan/close-action", data={
        "csrf_token": csrf, "idempotency_key": "p5", "action_id": "A2",
        "reason": "Superseded by the national guidance"})
    assert closed.status_code == 303
    # A2 addressed inequalities but was closed: the sign-off needs the reason why none does.
    equality = await health.post(signoff, data={"csrf_token": health_csrf,
                                                "idempotency_key": "p6", "partner": "health"})
    assert equality.status_code == 409
    assert "structural inequalities" in html.unescape(equality.text)
    reason = await mars.post(f"/cases/{case_id}/action-plan/no-equality-action", data={
        "csrf_token": csrf, "idempotency_key": "p7",
        "reason": "The national guidance now covers it"})
    assert reason.status_code == 303
    # My work shows each partner its own pending sign-off, prefilled with its partner.
    for partner in ("health", "police", "local_authority"):
        browser, token = browser_of("dsp", partner)
        link = html.escape(f"{signoff}?party={partner}")
        for _ in range(100):  # the store's copy of the plan follows the workflow
            work = (await browser.get("/work")).text
            if link in work:
                break
            await asyncio.sleep(0.1)
        assert link in work, partner
        form = (await browser.get(f"{signoff}?party={partner}")).text
        assert f'value="{partner}" checked' in form or f'value="{partner}" selected' in form
        signed = await browser.post(signoff, data={"csrf_token": token,
                                                   "idempotency_key": f"s-{partner}",
                                                   "partner": partner})
        assert signed.status_code == 303, signed.text
    plan = (await api.get(f"/v1/cases/{case_id}/action-plan")).json()
    assert plan["stage"] == "signed_off"
    assert [s["partner"] for s in plan["signatures"]] == ["health", "police", "local_authority"]
    assert [a["status"] for a in plan["actions"]] == ["completed", "closed"]


async def test_the_directory_is_kept_in_the_workspace_by_the_apis_rules(
    api_app: FastAPI, api: AsyncClient, browser_of: Any,
) -> None:
    run = uuid.uuid4().hex[:6]
    async with http_client(api_app) as anonymous:
        # Before anyone is in the directory, development signs in as the MARS team to set it up.
        page = await anonymous.get("/sign-in")
        token = anonymous.cookies["cspr_sign_in"]
        assert "Development MARS team" in page.text
        signed = await anonymous.post("/sign-in/development", data={
            "person_id": "development-mars-team", "csrf_token": token, "next": "/directory"})
        assert signed.status_code == 303
        assert signed.headers["location"] == "/directory"
    mars, csrf = browser_of("mars_team")
    # A partner organisation must say which partner: refused as the API refuses it.
    api_bad = await api.post("/v1/directory/organisations",
                             json={"name": f"Org {run}", "kind": "partner"})
    bad = await mars.post("/directory/organisations", data={
        "csrf_token": csrf, "idempotency_key": "d1", "name": f"Org {run}", "kind": "partner"})
    assert bad.status_code == api_bad.status_code == 422
    assert page_errors(bad.text) == {
        f"organisation-{k}": v for k, v in api_errors(api_bad.json()).items()}
    made = await mars.post("/directory/organisations", data={
        "csrf_token": csrf, "idempotency_key": "d2", "name": f"Org {run}", "kind": "partner",
        "partner": "police"})
    assert made.status_code == 303
    listing = (await api.get("/v1/directory/organisations")).json()
    org_id = next(o["id"] for o in listing if o["name"] == f"Org {run}")
    added = await mars.post(f"/directory/organisations/{org_id}/people", data={
        "csrf_token": csrf, "idempotency_key": "d3", "name": f"Pat {run}",
        "email": f"pat.{run}@cspr.test", "role": "dsp"})
    assert added.status_code == 303
    async with http_client(api_app) as anonymous:
        assert f"Pat {run}" in (await anonymous.get("/sign-in")).text
    # Auditors read it and change nothing; a deactivated person no longer signs in.
    auditor, auditor_csrf = browser_of("auditor")
    seen = (await auditor.get("/directory")).text
    assert f"Pat {run}" in seen
    assert "Add the organisation" not in seen
    assert (await auditor.post("/directory/organisations", data={
        "csrf_token": auditor_csrf, "name": "x", "kind": "agency"})).status_code == 403
    person_id = next(p["id"] for o in (await api.get("/v1/directory/organisations")).json()
                     for p in o["people"] if p["name"] == f"Pat {run}")
    gone = await mars.post(f"/directory/people/{person_id}/deactivate",
                           data={"csrf_token": csrf})
    assert gone.status_code == 303
    async with http_client(api_app) as anonymous:
        assert f"Pat {run}" not in (await anonymous.get("/sign-in")).text


async def test_a_difference_of_opinion_raised_escalated_and_resolved_by_its_forms(
    api: AsyncClient, browser_of: Any,
) -> None:
    case_id = await new_case(api)
    ssl, ssl_csrf = browser_of("ssl", "police")
    raise_path = f"/cases/{case_id}/differences/raise"
    assert raise_path in (await ssl.get(f"/cases/{case_id}")).text
    api_bad = await api.post(f"/v1/cases/{case_id}/differences-of-opinion",
                             json={"subject": "criteria"}, headers=as_role("ssl", "police"))
    bad = await ssl.post(raise_path, data={"csrf_token": ssl_csrf, "idempotency_key": "o1",
                                           "subject": "criteria"})
    assert bad.status_code == api_bad.status_code == 422
    assert page_errors(bad.text) == api_errors(api_bad.json())
    raised = await ssl.post(raise_path, data={
        "csrf_token": ssl_csrf, "idempotency_key": "o2", "subject": "criteria",
        "summary": "Police consider the threshold of serious harm met"})
    assert raised.status_code == 303
    # The MARS team's My work has it, at its level's target, linking to its resolution.
    mars, csrf = browser_of("mars_team")
    resolve = f"/cases/{case_id}/differences/DOO-1/resolve"
    for _ in range(100):  # the store's copy of the case follows the workflow
        if resolve in (await mars.get("/work")).text:
            break
        await asyncio.sleep(0.1)
    assert resolve in (await mars.get("/work")).text
    escalated = await mars.post(f"/cases/{case_id}/differences/DOO-1/escalate", data={
        "csrf_token": csrf, "idempotency_key": "o3", "reason": "No agreement at the first level"})
    assert escalated.status_code == 303
    resolved = await mars.post(resolve, data={
        "csrf_token": csrf, "idempotency_key": "o4", "outcome": "Agreed the criteria are met"})
    assert resolved.status_code == 303
    board, board_csrf = browser_of("board")  # reads the case, works no difference
    assert (await board.post(resolve, data={"csrf_token": board_csrf})).status_code == 403
    (difference,) = (await api.get(f"/v1/cases/{case_id}/differences-of-opinion")
                     ).json()["differences"]
    assert difference["level"] == "safeguarding_partners"
    assert difference["resolution"]["outcome"] == "Agreed the criteria are met"


async def test_a_stored_part_that_does_not_read_leaves_the_pages_standing(
    api: AsyncClient, browser_of: Any, sessions: Sessionmaker,
) -> None:
    case_id = await new_case(api)
    async with sessions.begin() as s:  # as a stand-in LCSPR projects itself in other tests
        s.add(CasePart(case_id=case_id, part="local_review", stage="stand_in", overdue=False,
                       next_deadline=None, version=1, snapshot={"stand_in": True},
                       updated_at=datetime.now(UTC)))
    mars, _ = browser_of("mars_team")
    for page in ("/work", f"/cases/{case_id}", "/board"):
        assert (await mars.get(page)).status_code == 200, page


async def test_an_agency_returns_its_report_from_my_work_without_reading_the_case(
    api: AsyncClient, browser_of: Any,
) -> None:
    case_id = await new_case(api)
    agency = f"Trust {uuid.uuid4().hex[:6]}"
    steps = [("inform-partners", {}, None),
             ("ssl-recommendation", {"criteria_met": True, "recommend_panel_notification": True,
                                     "rationale": "Met"}, as_role("ssl", "health")),
             *(("dsp-decision", {"partner": p, "criteria_met": True, "rationale": "Met"},
                 as_role("dsp", p)) for p in ("local_authority", "health", "police")),
             ("agency-requests", {"agencies": [agency]}, None)]
    for step, body, headers in steps:
        r = await api.post(f"/v1/cases/{case_id}/{step}", json=body, headers=headers)
        assert r.status_code == 200, (step, r.text)
    web, csrf = browser_of("agency", agency.upper())
    form = f"/cases/{case_id}/steps/agency-reports?party={agency}"
    for _ in range(100):  # My work reads the store's copy, which follows the workflow
        work = (await web.get("/work")).text
        if html.escape(form) in work:
            break
        await asyncio.sleep(0.1)
    assert html.escape(form) in work
    assert f'href="/cases/{case_id}"' not in work  # an agency may not read the case
    assert (await web.get(f"/cases/{case_id}")).status_code == 403
    done = await web.post(form.split("?")[0], data={"csrf_token": csrf, "idempotency_key": "g1",
                                                    "agency": agency})
    assert done.status_code == 303
    assert done.headers["location"] == "/work"
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    reports = next(s for s in case["steps"] if s["step"] == "agency_reports")
    assert reports["parties"][0]["completed_on"] is not None


async def test_a_reviewer_reaches_only_its_assigned_cases_in_the_workspace(
    api: AsyncClient, browser_of: Any
) -> None:
    """Issue 9, item 8: "A reviewer token is bound to the reviews it is assigned to ... not
    every case" — through the pages as through the API: the case page, its forms and the case
    list of a case it is not assigned to are refused or leave it out; once assigned, it is
    there."""
    case_id = await new_case(api)
    reviewer, _ = browser_of("reviewer")
    for path in (f"/cases/{case_id}", f"/cases/{case_id}/steps/ssl-recommendation",
                 f"/cases/{case_id}/differences/raise"):
        refused = await reviewer.get(path)
        assert refused.status_code == 403, (path, refused.status_code)
        assert case_id not in refused.text.split("<main", 1)[-1].split("</h1>", 1)[-1]
    link = f'href="/cases/{case_id}"'
    listed = await reviewer.get("/cases", params={"q": case_id.lower()})
    assert listed.status_code in (303, 403) or link not in listed.text
    assert link not in (await reviewer.get("/cases")).text
    assert link not in (await reviewer.get("/work")).text
    await assign_reviewer(api, case_id)
    page = await reviewer.get(f"/cases/{case_id}")
    assert page.status_code == 200, page.text
    assert link in (await reviewer.get("/cases")).text

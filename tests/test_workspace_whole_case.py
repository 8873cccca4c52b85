"""Issue 10's "Done when": a coordinator runs a whole serious case, from the notification to
the Board's sign-off of the action plan, in the workspace without touching the API.

Only the workspace's pages are used: the directory is set up by the development MARS team on
the Directory page; every person signs in through the development sign-in as themselves (their
role and organisation from the directory); each step is recorded by getting its form (from My
work or the case page, as its link shows it), and posting it back with its CSRF token and its
Idempotency-Key, as a browser does. The real app (ASGI), dev server, worker and PostgreSQL.

Time cannot pass on the dev server, so what the procedure lets a person date is dated as it
would have happened: the notification was received 15 working days ago, the steps since are
recorded as late entries (the forms' "date it was done"), the rapid review meeting (clock L,
the decision on an LCSPR) 12 working days ago, so that the report can have gone to the Panel
seven working days before its publication today. The letters (Docs 2-4 and the agencies')
go when their buttons are pressed: today.
"""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient, Response

from domain.calendar import WorkingDayCalendar, london_date
from domain.local_review_records import EQUALITY_FIELDS
from tests.conftest import http_client

CAL = WorkingDayCalendar()
PARTNERS = ("local_authority", "health", "police")
HIDDEN = re.compile(r'<input type="hidden" name="(csrf_token|idempotency_key)" value="([^"]*)"')


def page_errors(text: str) -> list[str]:
    return [html.unescape(m).strip() for m in re.findall(
        r'<span class="govuk-visually-hidden">Error:</span>\s*([^<]*)<', text)]


@dataclass
class Browser:
    """One person's browser: their own cookies, following the pages' links and forms."""

    client: AsyncClient
    name: str
    pages: list[str] = field(default_factory=list)

    async def get(self, path: str, status: int = 200) -> str:
        r = await self.client.get(path)
        assert r.status_code == status, (self.name, path, r.status_code, r.text[-2000:])
        self.pages.append(path)
        return r.text

    async def until(self, path: str, text: str, within: float = 60.0) -> str:
        """The page once it shows `text` (My work and the lists read the case store's copy,
        which follows the workflows)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            page = await self.get(path)
            if text in page:
                return page
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.name}: {path} never showed {text!r}")
            await asyncio.sleep(0.2)

    async def submit(self, form_page: str, action: str | None = None, **answers: Any
                     ) -> Response:
        """Get the form's page, then post its form (its hidden CSRF token and Idempotency-Key
        with the answers) as a browser would. `action` picks one form of a page with several.
        An answer that is a list posts each value (checkboxes); a date posts day, month, year."""
        page = await self.get(form_page)
        action = action or form_page.split("?")[0]
        start = page.find(f'action="{action}"')
        assert start >= 0, (self.name, f"{form_page} has no form to {action}")
        form = page[start:page.find("</form>", start)]
        data: list[tuple[str, str]] = HIDDEN.findall(form)
        assert any(k == "csrf_token" for k, _ in data), (form_page, "no CSRF token")
        for key, value in answers.items():
            name = key.replace("__", "-")
            if isinstance(value, date):
                data += [(f"{name}-day", str(value.day)), (f"{name}-month", str(value.month)),
                         (f"{name}-year", str(value.year))]
            elif isinstance(value, list):
                data += [(name, str(v)) for v in value]
            elif isinstance(value, bool):
                data.append((name, "true" if value else "false"))
            else:
                data.append((name, str(value)))
        posted: dict[str, list[str]] = {}
        for name, value in data:
            posted.setdefault(name, []).append(value)
        r = await self.client.post(action, data=posted)
        assert r.status_code == 303, (self.name, action, r.status_code,
                                      page_errors(r.text) or r.text[-1500:])
        return r


async def sign_in(app: FastAPI, name: str) -> Browser:
    """The development sign-in, choosing this person of the directory by their name."""
    client = http_client(app)
    page = (await client.get("/sign-in")).text
    token = client.cookies["cspr_sign_in"]
    if name == "Development MARS team":
        chosen = "development-mars-team"
    else:
        found = re.search(r'value="(\d+)"[^>]*>\s*<label[^>]*>\s*' + re.escape(name) + " – ",
                          page)
        assert found, f"{name} is not on the sign-in page"
        chosen = found.group(1)
    r = await client.post("/sign-in/development",
                          data={"person_id": chosen, "csrf_token": token, "next": "/work"})
    assert (r.status_code, r.headers["location"]) == (303, "/work"), r.text
    browser = Browser(client, name)
    assert ">My work<" in await browser.get("/work")
    return browser


async def set_up_the_directory(app: FastAPI, run: str) -> dict[str, str]:
    """The partners, an agency, an independent reviewer and their people, added on the
    Directory page by the development MARS team (a new machine's first step)."""
    admin = await sign_in(app, "Development MARS team")
    people: dict[str, str] = {}
    organisations = {p: f"{p.replace('_', ' ').title()} {run}" for p in PARTNERS}
    agency, reviewers = f"Northern Trust {run}", f"Independent Reviewers {run}"

    async def organisation(name: str, **kind: str) -> int:
        await admin.submit("/directory", "/directory/organisations", name=name, **kind)
        page = await admin.get("/directory")
        section = page[page.index(f">{name}</h2>"):]
        return int(re.search(r'action="/directory/organisations/(\d+)/people"',
                             section).group(1))  # type: ignore[union-attr]

    async def person(org_id: int, key: str, name: str, role: str) -> None:
        email = f"{re.sub(r'[^a-z]+', '.', name.lower()).strip('.')}@cspr.test"
        await admin.submit("/directory", f"/directory/organisations/{org_id}/people",
                           name=name, email=email, role=role)
        people[key] = name

    for partner, org_name in organisations.items():
        org_id = await organisation(org_name, kind="partner", partner=partner)
        await person(org_id, f"dsp_{partner}", f"Dee {partner.title()} DSP {run}", "dsp")
        await person(org_id, f"ssl_{partner}", f"Sam {partner.title()} SSL {run}", "ssl")
        if partner == "local_authority":
            await person(org_id, "coordinator", f"Morgan Coordinator {run}", "mars_team")
            await person(org_id, "board", f"Blake Board Chair {run}", "board")
    await person(await organisation(agency, kind="agency"), "agency",
                 f"Ash Trust Safeguarding {run}", "agency")
    await person(await organisation(reviewers, kind="agency"), "reviewer",
                 f"Riley Reviewer {run}", "reviewer")
    people["agency_name"] = agency
    await admin.client.aclose()
    return people


def task_link(case_id: str, part: str, step: str) -> str:
    return f"/cases/{case_id}/{part}/{step}"


async def test_a_serious_case_from_notification_to_the_boards_sign_off_in_the_workspace(
    api_app: FastAPI,
) -> None:
    run = uuid.uuid4().hex[:6]
    people = await set_up_the_directory(api_app, run)
    today = london_date(datetime.now(UTC))

    def wd(n: int) -> date:  # n working days ago
        return CAL.add_working_days(today, -n)

    coordinator = await sign_in(api_app, people["coordinator"])
    ssl = await sign_in(api_app, people["ssl_health"])
    dsps = {p: await sign_in(api_app, people[f"dsp_{p}"]) for p in PARTNERS}
    agency = await sign_in(api_app, people["agency"])
    reviewer = await sign_in(api_app, people["reviewer"])
    board = await sign_in(api_app, people["board"])
    everyone = [coordinator, ssl, *dsps.values(), agency, reviewer, board]
    try:
        # -- Doc 1: the notification, received 15 working days ago ---------------------------
        reference = f"NL-W{run.upper()}"
        r = await coordinator.submit(
            "/notifications/new", notifying_agency="Humberside Police",
            received_at=f"{wd(15).isoformat()}T09:30", incident__date=wd(16),
            incident__harm="serious_harm", incident__abuse_or_neglect="suspected",
            incident__summary="Unexplained injuries to an infant",
            children__0__reference=reference)
        case_id = r.headers["location"].rsplit("/", 1)[-1]
        case_page = f"/cases/{case_id}"
        steps = f"{case_page}/steps"
        page = await coordinator.get(case_page)
        assert wd(15).strftime("%-d %B %Y") in page  # received, as given
        # The child's reference finds the case.
        assert case_page in await coordinator.get(f"/cases?q={reference}")

        # -- Docs 2 and 3: the partners' letters (the button), followed until they have gone --
        await coordinator.submit(f"{steps}/inform-partners")
        page = await _letters_gone(coordinator, case_page)
        assert "Doc 2" in page

        # -- The SSLs' recommendation and the three DSPs' decisions, each from My work -------
        await ssl.until("/work", f"{steps}/ssl-recommendation")
        await ssl.submit(f"{steps}/ssl-recommendation", criteria_met=True,
                         recommend_panel_notification=True,
                         rationale="Unexplained injuries to a non-mobile infant",
                         completed_on=wd(15))
        for partner, dsp in dsps.items():
            link = f"{steps}/dsp-decision?party={partner}"
            await dsp.until("/work", html.escape(link))
            await dsp.submit(link, partner=partner, criteria_met=True,
                             rationale="Agreed: the criteria are met", completed_on=wd(14))
        # A DSP cannot make another partner's decision, nor the coordinator's steps.
        police = dsps["police"]
        csrf = dict(HIDDEN.findall(await police.get(f"{steps}/dsp-decision")))["csrf_token"]
        refused = await police.client.post(f"{steps}/dsp-decision", data={
            "csrf_token": csrf, "partner": "health", "criteria_met": "true", "rationale": "x"})
        assert refused.status_code in (403, 409)
        await police.get(f"{steps}/agency-requests", 403)
        await coordinator.until(case_page, "Rapid review")

        # -- The rapid review ---------------------------------------------------------------
        await coordinator.submit(f"{steps}/panel-notification",
                                 notified_at=f"{wd(14).isoformat()}T12:00",
                                 reference=f"CSPN-{run}")
        await coordinator.submit(f"{steps}/agency-requests", agencies=people["agency_name"])
        page = await _letters_gone(coordinator, case_page)
        report = f"{steps}/agency-reports?party={people['agency_name']}"
        await agency.until("/work", html.escape(report))
        r = await agency.submit(report, agency=people["agency_name"], completed_on=wd(13))
        assert r.headers["location"] == "/work"  # an agency does not read the case
        # The meeting: its recommendations and the decision on an LCSPR (clock L).
        await coordinator.submit(
            f"{steps}/rapid-review-meeting",
            recommendations="Share the learning on bruising\nConfirm referrals in writing",
            outcome="local_review", rationale="Two agencies did not share information",
            completed_on=wd(12))
        await coordinator.submit(f"{steps}/rapid-review-report", completed_on=wd(11))
        for partner, dsp in dsps.items():
            link = f"{steps}/rapid-review-signoff?party={partner}"
            await dsp.until("/work", html.escape(link))
            await dsp.submit(link, partner=partner, completed_on=wd(11))
        await coordinator.submit(f"{steps}/wellbeing-sessions", relevant=False,
                                 completed_on=wd(10))
        await coordinator.submit(f"{steps}/rapid-review-submission", completed_on=wd(10))
        await coordinator.submit(f"{steps}/panel-response", decision="no_national_review",
                                 notes="The LCSPR to go ahead", completed_on=wd(5))

        # -- The LCSPR: it starts at the submission -----------------------------------------
        lcspr = f"{case_page}/local-review"
        await coordinator.until(case_page, f"{lcspr}/inform-panel")
        # The coordinator assigns the directory's reviewer on the case page.
        await coordinator.submit(case_page, f"{case_page}/reviewers",
                                 person_id=_person_id(await coordinator.get(case_page),
                                                      people["reviewer"]))
        await coordinator.submit(f"{lcspr}/inform-panel", reviewer_name=people["reviewer"],
                                 completed_on=wd(11))
        await coordinator.submit(
            f"{lcspr}/terms-of-reference", methodology="Local systems methodology",
            scope="The six months before the incident",
            independent_challenge="An independent chair",
            views_captured="Practitioners' event; the family at home",
            race_racism_bias="Adultification and cultural assumptions",
            independent_author=True, completed_on=wd(11))
        for partner, dsp in dsps.items():
            link = f"{lcspr}/tor-endorsement?party={partner}"
            await dsp.until("/work", html.escape(link))
            await dsp.submit(link, partner=partner, completed_on=wd(10))
        await coordinator.submit(f"{lcspr}/reviewer-commissioned",
                                 reviewer_name=people["reviewer"],
                                 conflicts_of_interest="None declared",
                                 no_direct_involvement=True, completed_on=wd(10))
        await coordinator.submit(f"{lcspr}/supervision-request",
                                 request="Progress against the terms of reference",
                                 completed_on=wd(10))
        # The reviewer reaches the case it is assigned to, and answers from My work.
        await reviewer.until("/work", f"{lcspr}/progress-return")
        await reviewer.submit(f"{lcspr}/progress-return", request=1,
                              progress="Chronologies merged", completed_on=wd(9))
        await coordinator.submit(f"{lcspr}/learning", learning="Phone referrals",
                                 corrective_action="Confirmed in writing",
                                 disseminated=True, completed_on=wd(9))
        await reviewer.submit(
            f"{lcspr}/final-report",
            improvements_summary="Confirm referrals in writing\nJoint bruising protocol",
            systemic_analysis="Pathways differ between agencies",
            **{f"equality_analysis__{k}": "Considered" for k in EQUALITY_FIELDS},
            completed_on=wd(9))
        for partner, dsp in dsps.items():
            link = f"{lcspr}/report-endorsement?party={partner}"
            await dsp.until("/work", html.escape(link))
            await dsp.submit(link, partner=partner, completed_on=wd(9))
        await coordinator.submit(f"{lcspr}/report-sent", report="full_report",
                                 completed_on=wd(8))
        await coordinator.submit(f"{lcspr}/publication-planned", publication_date=today)
        await coordinator.submit(f"{lcspr}/published", published_on=today)

        # -- The action plan: an action for each recommendation, a review, the sign-off ------
        plan = f"{case_page}/action-plan"
        await coordinator.until(case_page, f"{plan}/add-action")
        for n, (what, owner) in enumerate([("Written referrals", people["agency_name"]),
                                           ("Bruising protocol", "Humberside Police")], 1):
            await coordinator.submit(f"{plan}/add-action", recommendation=n, what=what,
                                     owner=owner, due_date=today + timedelta(days=30 * n),
                                     addresses_inequalities=n == 2)
        await coordinator.submit(f"{plan}/plan-review", progress="Both actions under way",
                                 reported_to=["safeguarding_partners", "mars_board"])
        for action in ("A1", "A2"):
            link = f"{plan}/complete-action?action_id={action}"
            await coordinator.until(case_page, html.escape(link))
            await coordinator.submit(link, action_id=action, evidence="Done and audited")
        # Each partner signs the plan off at the Board, from its own My work.
        for partner, dsp in dsps.items():
            link = f"{plan}/board-signoff?party={partner}"
            await dsp.until("/work", html.escape(link))
            await dsp.submit(link, partner=partner)

        # -- Closed: the case page says so, and the Board's report counts it ----------------
        await coordinator.until(case_page, "Signed off")
        # The plan signed off ends the LCSPR, and the LCSPR the case.
        closed = re.compile(r"Stage\s*</dt>\s*<dd[^>]*>\s*Closed")
        for _ in range(300):
            page = await coordinator.get(case_page)
            if closed.search(page):
                break
            await asyncio.sleep(0.2)
        assert closed.search(page), "the case never closed"
        assert re.search(r"Outcome\s*</dt>\s*<dd[^>]*>\s*Local review", page)
        assert "Stage: Completed" in page
        assert "Overdue" not in page.split('id="action-plan"')[1].split("</table>")[0]
        assert reference not in await board.get("/board")  # nothing identifies the child
        # No one touched /v1/: every page each person used was the workspace's.
        assert not [p for b in everyone for p in b.pages if p.startswith("/v1/")]
    finally:
        for b in everyone:
            await b.client.aclose()


async def _letters_gone(browser: Browser, case_page: str) -> str:
    """The case page once no letters are being sent (it refreshes itself until then)."""
    for _ in range(300):
        page = await browser.get(case_page)
        if "data-cspr-refresh" not in page:
            return page
        await asyncio.sleep(0.2)
    raise AssertionError("the letters never went")


def _person_id(page: str, name: str) -> str:
    found = re.search(r'name="person_id" type="radio" value="(\d+)"[^>]*>\s*<label[^>]*>\s*'
                      + re.escape(name), page)
    assert found, f"{name} is not offered to assign"
    return found.group(1)


async def test_a_review_request_from_its_form_to_its_lcspr_in_the_workspace(
    api_app: FastAPI,
) -> None:
    """Flowchart 4 in the pages: the request (refused as the API refuses it when it was not
    discussed with the SSLs), the partners' letters, the SSLs' recommendation and the three
    DSPs' agreement, and the LCSPR starts with its terms of reference to agree."""
    run = uuid.uuid4().hex[:6]
    people = await set_up_the_directory(api_app, run)
    coordinator = await sign_in(api_app, people["coordinator"])
    ssl = await sign_in(api_app, people["ssl_police"])
    dsps = {p: await sign_in(api_app, people[f"dsp_{p}"]) for p in PARTNERS}
    everyone = [coordinator, ssl, *dsps.values()]
    try:
        assert "/review-requests/new" in await coordinator.get("/notifications/new")
        answers = {"requesting_agency": "North Lincolnshire Council", "category": "near_miss",
                   "summary": "A referral was nearly closed without a home visit",
                   "children__0__reference": f"NL-R{run.upper()}"}
        page = await coordinator.get("/review-requests/new")
        csrf = dict(HIDDEN.findall(page))["csrf_token"]
        refused = await coordinator.client.post("/review-requests/new", data={
            "csrf_token": csrf, **{k.replace("__", "-"): v for k, v in answers.items()},
            "discussed_with_ssl": "false"})
        assert refused.status_code == 422
        assert 'id="discussed_with_ssl-error"' in refused.text, page_errors(refused.text)
        r = await coordinator.submit("/review-requests/new", discussed_with_ssl=True,
                                     **answers)
        case_id = r.headers["location"].rsplit("/", 1)[-1]
        case_page, steps = f"/cases/{case_id}", f"/cases/{case_id}/steps"
        assert '<span class="govuk-caption-l">Request</span>' in await coordinator.get(case_page)
        await coordinator.submit(f"{steps}/inform-partners")
        await _letters_gone(coordinator, case_page)
        await ssl.until("/work", f"{steps}/ssl-recommendation")
        await ssl.submit(f"{steps}/ssl-recommendation", criteria_met=True,
                         rationale="A near miss with learning for the area")
        for partner, dsp in dsps.items():
            link = f"{steps}/dsp-decision?party={partner}"
            await dsp.until("/work", html.escape(link))
            await dsp.submit(link, partner=partner, criteria_met=True, rationale="Agreed")
        page = await coordinator.until(case_page, f"{case_page}/local-review/terms-of-reference")
        assert "/local-review/inform-panel" not in page  # nothing goes to the Panel
        assert not [p for b in everyone for p in b.pages if p.startswith("/v1/")]
    finally:
        for b in everyone:
            await b.client.aclose()

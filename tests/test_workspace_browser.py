"""The workspace in a browser, as its people use it: Playwright driving Debian's Chromium
(headless) against the real app served by uvicorn, on the real dev server, worker and case
store. A coordinator records a notification and sends the partners' letters; an SSL and the three
DSPs record their parts from My work; a DSP trying another partner's decision is refused; the
calendar feed has the new deadlines. axe-core checks every page; screenshots go to
docs/screenshots/ for the README."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from icalendar import Calendar

from domain.permissions import Role
from tests.workspace import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PARTNERS,
    SCREENSHOTS,
    Directory,
    axe_violations,
    seed_directory,
    served,
)
from web import session

playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
WAIT_MS = 30_000  # letters go through the worker and the SMTP server
DOC1_PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(scope="module")
async def site(api_app: FastAPI) -> AsyncIterator[str]:
    async with served(api_app) as url:
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def sign_in(browser: Any, site: str, name: str) -> Any:
    """A page of a new browser context (its own cookies), signed in as this person."""
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    await page.goto(f"{site}/work")
    assert "/sign-in" in page.url  # not signed in yet: sent to sign in
    await accessible(page)
    await page.get_by_label(name).check()
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="My work")).to_be_visible()
    await accessible(page)
    return page


async def signed_in_as(browser: Any, site: str, app: FastAPI, role: Role) -> Any:
    """A page signed in with a session cookie for a role nobody in the directory has (the
    development sign-in lists the directory's people)."""
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(WAIT_MS)
    person = session.new_person(f"{role.value}@cspr.test", f"Test {role.value}", role, None)
    await context.add_cookies([{"name": session.COOKIE, "url": site,
                                "value": session.encode(app.state.settings, person)}])
    return await context.new_page()


async def accessible(page: Any) -> None:
    violations = await axe_violations(page)
    assert violations == [], f"{page.url}: {violations}"


async def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def record_notification(page: Any, site: str, reference: str) -> str:
    await page.goto(f"{site}/notifications/new")
    await accessible(page)
    # Sent empty first: refused with the API's words by each field, and no case opened.
    await page.get_by_role("button", name="Record the notification").click()
    summary = page.locator(".govuk-error-summary")
    await expect(summary).to_contain_text("Notifying agency: Field required")
    await expect(page.locator("#notifying_agency-error")).to_contain_text("Field required")
    await accessible(page)
    await page.get_by_label("Notifying agency").fill("Humberside Police")
    today = date.today()
    await page.locator("#incident-date-day").fill(str(today.day))
    await page.locator("#incident-date-month").fill(str(today.month))
    await page.locator("#incident-date-year").fill(str(today.year))
    await page.get_by_label("Serious harm").check()
    await page.get_by_label("Suspected", exact=True).check()  # not "Not suspected"
    await page.get_by_label("The child's reference").fill(reference)
    await page.get_by_role("button", name="Record the notification").click()
    await expect(page.get_by_role("heading", name=re.compile(r"^CSPR-"))).to_be_visible()
    case_id: str = page.url.rsplit("/", 1)[-1]
    assert re.fullmatch(r"CSPR-\d{4}-\d{4}", case_id), page.url
    return case_id


def task(page: Any, title: str) -> Any:
    return page.locator(".govuk-task-list__item", has_text=title)


async def test_a_case_from_notification_to_the_dsps_decisions_in_the_browser(
    browser: Any, site: str, api: AsyncClient, api_app: FastAPI,
) -> None:
    people: Directory = await seed_directory(api)
    coordinator = await sign_in(browser, site, people.coordinator)
    reference = f"NL-{os.getpid() % 1000000:06d}"
    case_id = await record_notification(coordinator, site, reference)
    await accessible(coordinator)
    # The partners' letters: the button, then the page follows them until they have gone.
    await coordinator.get_by_role("link", name="Inform the partners").click()
    await accessible(coordinator)
    await coordinator.get_by_role("button", name="Send the letters").click()
    await expect(task(coordinator, "Inform the partners")).to_contain_text("Done", timeout=WAIT_MS)
    # Doc 2 to each partner's DSPs, Doc 3 to the SSLs: ours among whoever else the run's
    # directory lists; every one sent.
    mail = coordinator.locator("#mail tbody tr")
    for name in (*people.dsp.values(), *people.ssl.values()):
        await expect(mail.filter(has_text=name)).to_contain_text("Sent")
    for row in await mail.all():
        await expect(row).to_contain_text("Sent")
    await accessible(coordinator)
    # The child is never named in the case's URL or title: only the case id.
    assert reference not in coordinator.url
    assert reference not in await coordinator.title()

    # The SSL finds the recommendation in My work and records it.
    ssl = await sign_in(browser, site, people.ssl["health"])
    await ssl.locator("#work a", has_text="SSL recommendation").and_(
        ssl.locator(f"[href*='{case_id}']")).click()
    await accessible(ssl)
    await ssl.get_by_role("group", name="Are the serious case criteria met?").get_by_label(
        "Yes").check()
    await ssl.get_by_role("group", name=re.compile("national Panel")).get_by_label("Yes").check()
    await ssl.get_by_label("Rationale").fill("Unexplained injuries; two agencies involved")
    await ssl.get_by_role("button", name="Record").click()
    await expect(task(ssl, "SSL recommendation")).to_contain_text("Done")
    await expect(ssl.locator("body")).to_contain_text("Unexplained injuries")

    # A DSP trying another partner's decision is refused, by the field, and nothing changes.
    police = await sign_in(browser, site, people.dsp["police"])
    await police.goto(f"{site}/cases/{case_id}/steps/dsp-decision")
    await police.get_by_role("group", name="Partner").get_by_label("Health").check()
    await police.get_by_role("group", name=re.compile("criteria")).get_by_label("Yes").check()
    await police.get_by_label("Rationale").fill("Agree")
    await police.get_by_role("button", name="Record").click()
    await expect(police.locator(".govuk-error-summary")).to_contain_text(
        "partner must be the token's org")
    await expect(police.locator("#partner-error")).to_be_visible()
    await accessible(police)
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    dsp_step = next(s for s in case["steps"] if s["step"] == "dsp_decision")
    assert all(p["completed_on"] is None for p in dsp_step["parties"])

    # Each DSP records their own partner's decision from My work.
    for partner in PARTNERS:
        page = police if partner == "police" else await sign_in(browser, site,
                                                                 people.dsp[partner])
        await page.goto(f"{site}/work")
        link = page.locator(f"#work a[href*='{case_id}/steps/dsp-decision']")
        await expect(link).to_have_count(1)  # their own part only
        await link.click()
        group = page.get_by_role("group", name="Partner")
        await expect(group.locator("input:checked")).to_have_value(partner)
        await page.get_by_role("group", name=re.compile("criteria")).get_by_label("Yes").check()
        await page.get_by_label("Rationale").fill(f"Criteria met ({partner})")
        await page.get_by_role("button", name="Record").click()
        await expect(page.get_by_role("heading", name=case_id)).to_be_visible()
    await expect(task(police, "DSP decision")).to_contain_text("Done")
    await expect(task(police, "Notify the national Panel")).to_contain_text("To do")

    # The coordinator adds Doc 1 to the case file from the case page: sent without a file
    # first (refused by the field, in the error summary), then with it; downloads it back.
    await coordinator.goto(f"{site}/cases/{case_id}")
    await coordinator.get_by_role("link", name="Add a document to the case file").click()
    await accessible(coordinator)
    await coordinator.get_by_role("button", name="Add to the case file").click()
    await expect(coordinator.locator(".govuk-error-summary")).to_contain_text("Select a file")
    await expect(coordinator.locator("#file-error")).to_contain_text("Select a file")
    await accessible(coordinator)
    await coordinator.get_by_label("Doc 1: the notification form as received").check()
    await coordinator.get_by_label("Upload a file").set_input_files(
        files=[{"name": "Doc 1.pdf", "mimeType": "application/pdf", "buffer": DOC1_PDF}])
    await coordinator.get_by_role("button", name="Add to the case file").click()
    await expect(coordinator.locator(".govuk-notification-banner--success")).to_be_visible()
    await accessible(coordinator)
    await screenshot(coordinator, "case-file")
    async with coordinator.expect_download() as downloading:
        await coordinator.get_by_role("link", name="Doc 1.pdf").click()
    download = await downloading.value
    assert download.suggested_filename == "Doc 1.pdf"

    # The other processes' facts (Appendix 3), from the case page: the form is accessible,
    # and what the facts suggest shows on the case.
    await coordinator.goto(f"{site}/cases/{case_id}")
    await coordinator.get_by_role("link", name=re.compile("Record the facts")).click()
    await accessible(coordinator)
    await coordinator.get_by_role("group", name="Has an inquest been opened?").get_by_label(
        "Yes").check()
    await coordinator.get_by_role("button", name="Record").click()
    await expect(coordinator.locator("#parallel-suggestions")).to_contain_text("Inquest")
    await accessible(coordinator)

    # The case list, by the year received: the case is there.
    await coordinator.goto(f"{site}/cases")
    await coordinator.get_by_label("Year received").select_option(str(date.today().year))
    await coordinator.get_by_role("button", name="Search").click()
    await expect(coordinator.locator("#cases")).to_contain_text(str(date.today().year))
    await accessible(coordinator)
    # Newest received first: other tests' cases, received later in the year under time
    # skipping, may come before it; the filter's own pages find it.
    year_url = coordinator.url
    for page_number in range(1, 41):
        await coordinator.goto(f"{year_url}&page={page_number}")
        if case_id in await coordinator.locator("#cases").inner_text():
            break
    await expect(coordinator.locator("#cases")).to_contain_text(case_id)

    # The directory, as the MARS team keeps it: every form on it accessible too.
    await coordinator.goto(f"{site}/directory")
    await expect(coordinator.locator("body")).to_contain_text(people.dsp["police"])
    await accessible(coordinator)

    # The coordinator books the rapid review meeting from the case page.
    await coordinator.goto(f"{site}/cases/{case_id}")
    await coordinator.get_by_role("link", name="Book a meeting").click()
    await accessible(coordinator)
    meeting_day = date.today() + timedelta(days=7)
    await coordinator.get_by_label("Rapid review meeting").check()
    await coordinator.locator("#day-day").fill(str(meeting_day.day))
    await coordinator.locator("#day-month").fill(str(meeting_day.month))
    await coordinator.locator("#day-year").fill(str(meeting_day.year))
    await coordinator.get_by_label("Start time").fill("10:00")
    await coordinator.get_by_label("End time").fill("9:00")
    await coordinator.get_by_label("Where").fill("Church Square House")
    await coordinator.get_by_role("button", name="Book the meeting").click()
    await expect(coordinator.locator(".govuk-error-summary")).to_contain_text(
        "The end time must be after the start time")
    await accessible(coordinator)
    await coordinator.get_by_label("End time").fill("12:00")
    await coordinator.get_by_role("button", name="Book the meeting").click()
    await expect(coordinator.locator("#meeting-list")).to_contain_text("10:00 to 12:00")
    await accessible(coordinator)
    await screenshot(coordinator, "case")  # with its meeting, its case file, its processes

    # The coordinator's calendar feed has the case's deadlines still to come, by date, and
    # the meeting as a timed event.
    await coordinator.goto(f"{site}/calendar")
    await accessible(coordinator)
    await coordinator.get_by_role("button", name=re.compile("feed address")).click()
    url = (await coordinator.locator("#feed-url").inner_text()).strip()
    await accessible(coordinator)
    feed = await coordinator.context.request.get(url)
    assert feed.ok
    assert feed.headers["content-type"].startswith("text/calendar")
    parsed = Calendar.from_ical(await feed.body()).walk("VEVENT")
    events = {str(e["summary"]): e.decoded("dtstart") for e in parsed
              if not isinstance(e.decoded("dtstart"), datetime)}
    timed = {str(e["summary"]): e.decoded("dtstart") for e in parsed
             if isinstance(e.decoded("dtstart"), datetime)}
    assert timed[f"{case_id}: Rapid review meeting"] == datetime.combine(
        meeting_day, time(10), ZoneInfo("Europe/London"))
    case = (await api.get(f"/v1/cases/{case_id}")).json()
    due = {s["title"]: date.fromisoformat(s["due_date"]) for s in case["steps"]
           if s["due_date"] and s["status"] in ("pending", "overdue")}
    mine = {summary: day for summary, day in events.items() if summary.startswith(case_id)}
    assert f"{case_id}: Notify the national Panel [statutory]" in mine
    # A step each partner records (the DSPs' sign-off, due since procedure r3) is an event for
    # each partner's part: "DSP sign-off of the report (health)".
    parts = re.compile(r" \((local authority|health|police)\)$")
    assert {parts.sub("", s.split(": ", 1)[1].rsplit(" [", 1)[0]): d
            for s, d in mine.items()} == due
    assert f"{case_id}: DSP sign-off of the report (police) [local]" in mine
    assert all(reference not in s for s in events)
    # A new address revokes the old one.
    await coordinator.get_by_role("button", name=re.compile("new feed address")).click()
    assert (await coordinator.context.request.get(url)).status == 404

    # Operations' bank holidays page: a date not real is refused by GOV.UK's date input, in
    # its words; every state accessible.
    admin = await signed_in_as(browser, site, api_app, Role.ADMIN)
    await admin.goto(f"{site}/calendar/bank-holidays?year=2097")
    await accessible(admin)
    await admin.locator("#add-day-day").fill("30")
    await admin.locator("#add-day-month").fill("2")
    await admin.locator("#add-day-year").fill("2097")
    await admin.get_by_label("Name").fill("A day")
    await admin.get_by_role("button", name="Add the bank holiday").click()
    await expect(admin.locator(".govuk-error-summary")).to_contain_text(
        "The date must be a real date")
    await accessible(admin)
    await screenshot(admin, "bank-holidays")
    await admin.context.close()

    # The MARS team's My work has everyone's, the panel notification among them.
    await coordinator.goto(f"{site}/work")
    await expect(coordinator.locator(f"#work a[href*='{case_id}/steps/panel-notification']")
                 ).to_have_count(1)
    await accessible(coordinator)
    await screenshot(coordinator, "my-work")

    # The Board's report shows the case: received, its steps' timeliness, open; as CSV too.
    await coordinator.get_by_role("link", name="Board report").click()
    # The period by GOV.UK's date inputs: a month left out is refused by its field.
    await coordinator.locator("#to-month").fill("")
    await coordinator.get_by_role("button", name="Show").click()
    await expect(coordinator.locator(".govuk-error-summary")).to_contain_text(
        "The end of the period must include a month")
    await accessible(coordinator)
    await coordinator.locator("#to-month").fill("3")
    await coordinator.get_by_role("button", name="Show").click()
    await expect(coordinator.locator(".govuk-error-summary")).to_have_count(0)
    await expect(coordinator.locator("#open_reviews")).to_contain_text(case_id)
    await expect(coordinator.locator("#timeliness")).to_contain_text("DSP decision")
    assert await coordinator.locator("svg.cspr-chart").count() >= 3
    await accessible(coordinator)
    await screenshot(coordinator, "board-report")
    assert reference not in await coordinator.content()
    csv = await coordinator.context.request.get(f"{site}/board/open_reviews.csv")
    assert csv.ok
    assert case_id in await csv.text()
    assert reference not in await csv.text()

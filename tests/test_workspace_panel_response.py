"""The Panel's answers in the workspace (issue 9, item 5; procedure r5): the case page lists the
further information the Panel asked for (due on the service's own target) and then the
partners' LCSPR decision after the Panel declined, each with its form. Through the real app
(ASGI), dev server, worker and case store."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient

from tests.conftest import as_role
from tests.test_responses_by_role import AGENCY, PARTNERS, case_at_agency_reports
from tests.test_workspace_forms import browser_of  # noqa: F401  (a fixture)


async def ok(api: AsyncClient, url: str, headers: dict[str, str] | None = None,
             **fields: Any) -> None:
    response = await api.post(url, json=fields, headers=headers)
    assert response.status_code == 200, response.text


async def test_the_case_page_shows_the_panels_answers_and_their_forms(
    api: AsyncClient, browser_of: Any,  # noqa: F811
) -> None:
    case_id = await case_at_agency_reports(api)
    url = f"/v1/cases/{case_id}"
    for agency in (AGENCY, "Council"):
        await ok(api, f"{url}/agency-reports", agency=agency)
    await ok(api, f"{url}/rapid-review-meeting", recommendations=["Refer to the Panel"],
             outcome="national_review_recommended", rationale="Of national importance")
    await ok(api, f"{url}/rapid-review-report")
    for partner in PARTNERS:
        await ok(api, f"{url}/rapid-review-signoff", as_role("dsp", partner), partner=partner)
    await ok(api, f"{url}/rapid-review-submission")
    await ok(api, f"{url}/panel-response", decision="more_information_requested")

    mars, _ = browser_of("mars_team")
    page = html.unescape((await mars.get(f"/cases/{case_id}")).text)
    assert "Further information to the Panel (due on the service's own target)" in page
    assert f'href="/cases/{case_id}/steps/panel-information"' in page
    assert f'href="/cases/{case_id}/steps/local-review-decision"' not in page
    form = (await mars.get(f"/cases/{case_id}/steps/panel-information")).text
    for field in ("what", "sent_to", "sent_at", "completes"):
        assert f'name="{field}' in form, field

    await ok(api, f"{url}/panel-information", what="Health chronology",
             sent_to="Mailbox.NationalReviewPanel@education.gov.uk",
             sent_at=datetime.now(UTC).isoformat())
    await ok(api, f"{url}/panel-response", decision="no_national_review")
    page = html.unescape((await mars.get(f"/cases/{case_id}")).text)
    assert "Local review decision" in page  # the stage, in words
    assert "Partners' decision on an LCSPR after the Panel's answer" in page
    assert f'href="/cases/{case_id}/steps/local-review-decision"' in page
    form = (await mars.get(f"/cases/{case_id}/steps/local-review-decision")).text
    for field in ("undertake", "rationale", "decided_on"):
        assert f'name="{field}' in form, field

"""The case page's statutory notices and other processes (issue 10, "A case": "parallel
processes; statutory notices"), and their forms through the API's route functions: the same
suggestions, the same refusals in the same words, a refused form changing nothing. Through the
real app (ASGI), dev server, worker and case store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient

from tests.test_workspace_forms import api_errors, browser_of, page_errors  # noqa: F401


async def looked_after_childs_death(api: AsyncClient) -> str:
    received = datetime.now(UTC) - timedelta(minutes=10)
    made = await api.post("/v1/notifications", json={
        "received_at": received.isoformat(), "notifying_agency": "North Lincolnshire Council",
        "incident": {"date": (received - timedelta(days=1)).date().isoformat(),
                     "harm": "death", "abuse_or_neglect": "suspected"},
        "children": [{"reference": f"WEB-LAC-{uuid.uuid4().hex[:8]}", "looked_after": True}]})
    assert made.status_code == 201, made.text
    return str(made.json()["case_id"])


def section(text: str, anchor: str) -> str:
    start = text.index(f'id="{anchor}"')
    end = text.find('<h2 class="govuk-heading-m"', start)
    return text[start:end]


async def test_the_statutory_notices_a_death_calls_for_and_how_they_went(
    api: AsyncClient, browser_of: Any,  # noqa: F811
) -> None:
    case_id = await looked_after_childs_death(api)
    mars, csrf = browser_of("mars_team")
    notices = section((await mars.get(f"/cases/{case_id}")).text, "notices")
    assert "Notify the Secretary of State" in notices or "Secretary of State" in notices
    assert "Ofsted" in notices
    assert notices.count("To send") == 3  # the Panel's, the Secretary of State's, Ofsted's

    la, la_csrf = browser_of("dsp", "local_authority")
    sent = datetime.now(UTC).astimezone().strftime("%Y-%m-%dT%H:%M")
    recorded = await la.post(f"/cases/{case_id}/steps/notify-ofsted", data={
        "csrf_token": la_csrf, "idempotency_key": str(uuid.uuid4()), "sent_at": sent,
        "method": "online_notification_system", "reference": "CSPN-2026-0456"})
    assert recorded.status_code == 303, recorded.text
    notices = section((await mars.get(f"/cases/{case_id}")).text, "notices")
    ofsted = notices[notices.index("Ofsted"):]
    ofsted = ofsted[:ofsted.index("</tr>")]
    assert "Sent" in ofsted
    assert "Online notification system" in ofsted
    assert "CSPN-2026-0456" in ofsted


async def test_facts_and_processes_recorded_by_forms_as_through_the_api(
    api: AsyncClient, browser_of: Any,  # noqa: F811
) -> None:
    case_id = await looked_after_childs_death(api)
    mars, csrf = browser_of("mars_team")
    page = await mars.get(f"/cases/{case_id}")
    assert "Record the facts" in section(page.text, "parallel")

    form = await mars.get(f"/cases/{case_id}/parallel/facts")
    assert form.status_code == 200
    assert 'name="criminal_investigation"' in form.text
    # A fact that contradicts another: refused by the field, in the API's words; nothing kept.
    bad = {"victim_died": "false", "victim_age_at_death": "3"}
    refused = await mars.post(f"/cases/{case_id}/parallel/facts",
                              data={"csrf_token": csrf, **bad})
    refused_api = await api.put(f"/v1/cases/{case_id}/parallel-reviews/facts",
                                json={"victim_died": False, "victim_age_at_death": 3})
    assert refused.status_code == refused_api.status_code == 422
    assert page_errors(refused.text) == api_errors(refused_api.json())
    assert (await api.get(f"/v1/cases/{case_id}/parallel-reviews")).json()[
        "facts_recorded_at"] is None

    facts = {"victim_died": "true", "offence": "murder", "criminal_investigation": "true",
             "inquest_opened": "true"}
    assert (await mars.post(f"/cases/{case_id}/parallel/facts",
                            data={"csrf_token": csrf, **facts})).status_code == 303
    held = (await api.get(f"/v1/cases/{case_id}/parallel-reviews")).json()
    assert held["facts"]["offence"] == "murder"
    suggested = {s["kind"] for s in held["suggestions"]}
    assert {"criminal_investigation", "inquest"} <= suggested
    page = section((await mars.get(f"/cases/{case_id}")).text, "parallel")
    for kind in ("Criminal investigation and proceedings", "Inquest"):
        assert kind in page
    assert "Record the inquest" in page
    # The facts' form is filled with what the case holds (a record replaces the last).
    again = await mars.get(f"/cases/{case_id}/parallel/facts")
    assert 'value="murder" checked' in again.text

    # An inquest cannot be joint with the CSPR: the API's words, by the field.
    process = {"csrf_token": csrf, "lead": "HM Coroner for North Lincolnshire",
               "arrangement": "joint", "status": "open"}
    joint = await mars.post(f"/cases/{case_id}/parallel/inquest", data=process)
    joint_api = await api.put(f"/v1/cases/{case_id}/parallel-reviews/inquest",
                              json={"lead": "HM Coroner for North Lincolnshire",
                                    "arrangement": "joint", "status": "open"})
    assert joint.status_code == joint_api.status_code == 422
    assert page_errors(joint.text) == api_errors(joint_api.json())
    assert "arrangement" in page_errors(joint.text)
    done = await mars.post(f"/cases/{case_id}/parallel/inquest",
                           data={**process, "arrangement": "parallel", "liaison_agreed": "true",
                                 "liaison": "Monthly call with the coroner's officer"})
    assert done.status_code == 303, done.text
    page = section((await mars.get(f"/cases/{case_id}")).text, "parallel")
    recorded = page[page.index('id="parallel-processes"'):]
    assert "HM Coroner for North Lincolnshire" in recorded
    assert "Monthly call with the coroner" in recorded

    # A role that reads cases but records none of this: no links, and a post is refused.
    auditor, auditor_csrf = browser_of("auditor")
    assert "Record the facts" not in (await auditor.get(f"/cases/{case_id}")).text
    assert (await auditor.post(f"/cases/{case_id}/parallel/facts",
                               data={"csrf_token": auditor_csrf, **facts})).status_code == 403
    assert (await mars.get(f"/cases/{case_id}/parallel/not-a-kind")).status_code == 404

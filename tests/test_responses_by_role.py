"""What each role gets back, route by route (issue 9, item 9: "An agency that records its
report gets back its own record (and the case id and stage), never the whole case").

The walk: every operation of the OpenAPI document, called by every role, on a case whose
notification, Panel reference and other agencies' reports are marked; a role that may not read
a case finds none of them in any answer, and the mail list's addresses only reach the roles
that read the partner directory.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient

from api.auth import issue_token
from api.schemas import RecordReceipt
from domain.permissions import ORGANISATION_ROLES, Role, can_read_case, can_read_directory
from tests.conftest import TEST_JWT_SECRET, as_role
from tests.reviewers import assign_reviewer

REFERENCE = "NL-SENTINEL-7731"
NOTIFIER = "Sentinel Notifying Agency"
OTHER_AGENCY = "Sentinel Other Agency"
PANEL_REFERENCE = "CSPN-SENTINEL-55"
SENTINELS = (REFERENCE, NOTIFIER, OTHER_AGENCY, PANEL_REFERENCE)
AGENCY = "Police"
PARTNERS = ("local_authority", "health", "police")
ORGS = {Role.SSL: "health", Role.DSP: "health", Role.AGENCY: AGENCY}


async def _ok(api: AsyncClient, url: str, headers: dict[str, str] | None = None,
              **fields: Any) -> dict[str, Any]:
    response = await api.post(url, json=fields, headers=headers)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def case_at_agency_reports(api: AsyncClient) -> str:
    """A case whose agencies are reporting, another agency's report already in."""
    case = await _ok(api, "/v1/notifications", notifying_agency=NOTIFIER, incident={
        "date": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
        "harm": "death", "abuse_or_neglect": "suspected"},
        children=[{"reference": REFERENCE, "date_of_birth": "2018-05-01"}])
    case_id: str = case["case_id"]
    url = f"/v1/cases/{case_id}"
    await _ok(api, f"{url}/inform-partners")
    await _ok(api, f"{url}/ssl-recommendation", as_role("ssl", "health"), criteria_met=True,
              recommend_panel_notification=True, rationale="Criteria met")
    for partner in PARTNERS:
        await _ok(api, f"{url}/dsp-decision", as_role("dsp", partner), partner=partner,
                  criteria_met=True, rationale="Agreed")
    await _ok(api, f"{url}/panel-notification", notified_at=datetime.now(UTC).isoformat(),
              reference=PANEL_REFERENCE)
    await _ok(api, f"{url}/agency-requests", agencies=[AGENCY, OTHER_AGENCY, "Council"])
    await _ok(api, f"{url}/agency-reports", agency=OTHER_AGENCY)
    return case_id


def _operations(app: FastAPI, case_id: str) -> list[tuple[str, str]]:
    """Every (method, path) of the API, its path parameters filled for the case."""
    values = {"case_id": case_id, "difference_id": "DOO-1", "document_id": "1",
              "kind": "dhr", "organisation_id": "1", "person_id": "1", "day": "2001-01-01",
              "message_id": "1"}
    found = []
    for path, item in app.openapi()["paths"].items():
        filled = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
        found += [(method.upper(), filled) for method in item]
    return found


def _body(path: str) -> dict[str, Any]:
    """A valid body for the routes an agency may use; an empty one elsewhere."""
    if path.endswith("/agency-reports"):
        return {"agency": AGENCY.upper()}
    if path.endswith("/differences-of-opinion"):
        return {"subject": "process", "summary": "Our report's deadline was too short"}
    return {}


async def test_every_route_answers_each_role_only_what_it_may_see(
    api: AsyncClient, api_app: FastAPI
) -> None:
    case_id = await case_at_agency_reports(api)
    await assign_reviewer(api, case_id)
    operations = _operations(api_app, case_id)
    # Each role's token, the reviewer assigned to the case; and a reviewer who is not, which
    # may read nothing of it (item 8).
    callers = [(role.value, role, as_role(role.value, ORGS.get(role)
                                          if role in ORGANISATION_ROLES else None),
                can_read_case(role)) for role in Role]
    callers.append(("unassigned reviewer", Role.REVIEWER, {"Authorization": "Bearer " + issue_token(
        TEST_JWT_SECRET, role=Role.REVIEWER, organisation=None,
        subject="not.assigned@independent.test")}, False))
    answered: dict[str, set[str]] = {}
    # Those that may not read the case first, so that their records are still open to them.
    for name, role, headers, reads in sorted(callers, key=lambda c: c[3]):
        for method, path in operations:
            response = await api.request(method, path, headers=headers,
                                         json=_body(path) if method != "GET" else None)
            assert response.status_code < 500, (name, method, path, response.text)
            if response.status_code >= 300:
                continue
            answered.setdefault(name, set()).add(f"{method} {path}")
            text = response.text
            if not reads:
                # Item 9: never the child, the notification, or another agency's step.
                leaked = [s for s in SENTINELS if s in text]
                assert not leaked, (name, method, path, leaked)
            if path.endswith("/mail") and not can_read_directory(role):
                assert all(m["to_address"] is None and m["last_error"] is None
                           for m in response.json()), (name, path)
    # The walk reached the routes: the agency recorded its report, readers read the case.
    url = f"/v1/cases/{case_id}"
    assert {f"POST {url}/agency-reports", f"POST {url}/differences-of-opinion"} \
        <= answered[Role.AGENCY.value]
    assert all(f"GET {url}" in answered[name] for name, _, _, reads in callers if reads)
    assert f"GET {url}" not in answered.get("unassigned reviewer", set())


async def test_an_agency_recording_its_report_gets_back_its_own_record_only(
    api: AsyncClient,
) -> None:
    """Item 9: "gets back its own record (and the case id and stage), never the whole case"."""
    case_id = await case_at_agency_reports(api)
    receipt = await _ok(api, f"/v1/cases/{case_id}/agency-reports",
                        as_role("agency", "POLICE"), agency="police")
    assert set(receipt) == set(RecordReceipt.model_fields)
    assert receipt["case_id"] == case_id
    assert receipt["stage"] == "rapid_review"
    assert receipt["step"] == "agency_reports"
    assert receipt["party"].casefold() == AGENCY.casefold()
    assert receipt["completed_at"] is not None
    assert receipt["due_date"] is not None
    # The MARS team recording the same step for another agency still gets the case.
    case = await _ok(api, f"/v1/cases/{case_id}/agency-reports", agency="Council")
    assert case["notification"]["children"][0]["reference"] == REFERENCE

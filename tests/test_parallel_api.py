"""A case's other processes (Appendix 3) through the real API, dev server, worker and case store:
facts and processes recorded by the partners' roles, the suggestions with the YJB's due date,
and every kind of refusal (403, 404, 409, 422 naming the field, changing nothing)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from httpx import AsyncClient, Response
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.calendar import WorkingDayCalendar
from tests.conftest import as_role
from tests.test_local_review_api import new_review

CAL = WorkingDayCalendar()
INCIDENT = (datetime.now(UTC) - timedelta(days=2)).date()


def aged(years: int, on: date) -> str:
    """A date of birth that makes a child `years` old on `on`."""
    born = on.replace(year=on.year - years) if (on.month, on.day) != (2, 29) else \
        on.replace(year=on.year - years, day=28)
    return born.isoformat()


async def new_case(api: AsyncClient, harm: str = "death", years: int = 16) -> str:
    created = await api.post("/v1/notifications", json={
        "notifying_agency": "Humberside Police",
        "incident": {"date": INCIDENT.isoformat(), "harm": harm,
                     "abuse_or_neglect": "suspected"},
        "children": [{"reference": f"NL-PAR-{uuid.uuid4().hex[:8]}",
                      "date_of_birth": aged(years, INCIDENT)}],
    })
    assert created.status_code == 201, created.text
    case_id: str = created.json()["case_id"]
    return case_id


def path(case_id: str, rest: str = "") -> str:
    return f"/v1/cases/{case_id}/parallel-reviews{rest}"


def assert_invalid(response: Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_facts_suggest_processes_and_the_partners_record_them(api: AsyncClient) -> None:
    case_id = await new_case(api)
    empty = await api.get(path(case_id))
    assert empty.status_code == 200, empty.text
    assert empty.json()["suggestions"] == []
    assert empty.json()["processes"] == []

    ended = INCIDENT - timedelta(days=20)
    facts = await api.put(path(case_id, "/facts"), headers=as_role("ssl", "police"), json={
        "perpetrator_relationship": "household_member", "yjs_supervision_ended_on":
        ended.isoformat(), "yjs_aware_on": INCIDENT.isoformat(),
        "criminal_investigation": True, "inquest_opened": True})
    assert facts.status_code == 200, facts.text
    suggestions = {s["kind"]: s for s in facts.json()["suggestions"]}
    # Doc 1: a death, and the child was 16 on the incident date; the death 20 days after the
    # YJS supervision ended.
    assert set(suggestions) == {"dhr", "yjb_notification", "criminal_investigation", "inquest"}
    yjb = suggestions["yjb_notification"]
    assert yjb["mandatory"] is True
    assert yjb["due_date"] == CAL.add_working_days(INCIDENT, 1).isoformat()
    assert suggestions["dhr"]["mandatory"] is False
    assert not any(s["recorded"] for s in suggestions.values())

    recorded = await api.put(path(case_id, "/inquest"), headers=as_role("dsp", "health"), json={
        "lead": "HM Coroner", "liaison_agreed": True, "liaison": "The MARS team writes monthly",
        "arrangement": "parallel", "started_on": INCIDENT.isoformat()})
    assert recorded.status_code == 200, recorded.text
    again = await api.put(path(case_id, "/dhr"), json={
        "lead": "Community Safety Partnership", "arrangement": "joint"})
    assert again.status_code == 200, again.text

    read = await api.get(path(case_id), headers=as_role("board"))
    assert read.status_code == 200, read.text
    body = read.json()
    assert [p["kind"] for p in body["processes"]] == ["dhr", "inquest"]
    assert {s["kind"] for s in body["suggestions"] if s["recorded"]} == {"dhr", "inquest"}
    assert body["facts"]["perpetrator_relationship"] == "household_member"

    kinds = [e["kind"] for e in (await api.get(f"/v1/cases/{case_id}/events")).json()]
    assert kinds.count("parallel_process") == 2
    assert "parallel_facts" in kinds


async def test_a_15_year_old_is_no_dhr_and_serious_harm_no_death(api: AsyncClient) -> None:
    for harm, years in (("death", 15), ("serious_harm", 17)):
        case_id = await new_case(api, harm, years)
        response = await api.put(path(case_id, "/facts"),
                                 json={"perpetrator_relationship": "relative"})
        assert response.status_code == 200, response.text
        assert response.json()["suggestions"] == [], (harm, years)


async def test_bad_input_is_422_naming_the_field_and_changes_nothing(api: AsyncClient) -> None:
    case_id = await new_case(api)
    ok = await api.put(path(case_id, "/facts"), json={"criminal_investigation": True})
    assert ok.status_code == 200, ok.text
    before = (await api.get(path(case_id))).json()
    events_before = (await api.get(f"/v1/cases/{case_id}/events")).json()
    future = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    for rest, body, field in [
        ("/facts", {"offence": "shoplifting"}, "offence"),  # the API's own validation
        ("/facts", {"mappa_level": 0}, "mappa_level"),
        ("/facts", {"yjs_on_caseload": True, "yjs_supervision_ended_on": "2026-01-05"},
         "yjs_supervision_ended_on"),  # a rule across fields
        ("/facts", {"child_died_on": future}, "child_died_on"),  # the workflow's validator
        ("/facts", {"inquest": True}, "inquest"),
        ("/inquest", {"lead": "HM Coroner", "arrangement": "joint"}, "arrangement"),
        ("/inquest", {"lead": "HM Coroner", "started_on": future}, "started_on"),
        ("/dhr", {"lead": "CSP", "liaison_agreed": True}, "liaison"),
        ("/dhr", {"lead": "CSP", "status": "ended"}, "ended_on"),
        ("/dhr", {"arrangement": "parallel"}, "lead"),
        ("/tribunal", {"lead": "CSP"}, "kind"),
    ]:
        response = await api.put(path(case_id, rest), json=body)
        assert_invalid(response, field)
        assert "shoplifting" not in response.text
    assert (await api.get(path(case_id))).json() == before
    assert (await api.get(f"/v1/cases/{case_id}/events")).json() == events_before


async def test_who_may_and_what_is_missing(api: AsyncClient) -> None:
    case_id = await new_case(api)
    body = {"lead": "Prevent lead"}
    for headers in (as_role("board"), as_role("reviewer"), as_role("auditor"),
                    as_role("agency", "North Lincolnshire Council")):
        response = await api.put(path(case_id, "/prevent"), json=body, headers=headers)
        assert response.status_code == 403, response.text
    denied = await api.get(path(case_id), headers=as_role("agency", "North Lincolnshire Council"))
    assert denied.status_code == 403
    assert (await api.get(path(case_id))).json()["processes"] == []
    missing = "CSPR-2026-NOSUCH01"
    assert (await api.get(path(missing))).status_code == 404
    assert (await api.put(path(missing, "/prevent"), json=body)).status_code == 404


async def test_a_publication_delay_names_the_processes_causing_it(
    api: AsyncClient, dev_env: WorkflowEnvironment, dev_worker: Worker
) -> None:
    case_id = await new_review(api, dev_env, dev_worker, datetime.now(UTC).date())
    expected = (datetime.now(UTC) + timedelta(days=300)).date().isoformat()
    delayed = await api.post(f"/v1/cases/{case_id}/local-review/publication-delayed", json={
        "reasons": "Trial listed; inquest adjourned", "new_expected_date": expected,
        "because_of": ["criminal_investigation", "inquest"]})
    assert delayed.status_code == 200, delayed.text
    assert delayed.json()["publication_delayed_because_of"] == ["criminal_investigation",
                                                                "inquest"]
    twice = await api.post(f"/v1/cases/{case_id}/local-review/publication-delayed", json={
        "reasons": "x", "new_expected_date": expected, "because_of": ["inquest", "inquest"]})
    assert_invalid(twice, "because_of")
    read: dict[str, Any] = (await api.get(f"/v1/cases/{case_id}/local-review")).json()
    assert read["publication_delayed_because_of"] == ["criminal_investigation", "inquest"]

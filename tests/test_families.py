"""Issue 9, "Families": "Decisions on whether to undertake reviews should be made transparently
and the rationale communicated appropriately, including to families"; and families
"understand how they are going to be involved". Recorded as who was told, when, how, for which
decision (patch "family-communication"); shown on the case; reminded while a decision is not
yet told. The workflow under the time-skipping server; the API on the dev server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.case import CaseState, EventKind
from domain.decisions import Actor
from domain.families import FamilyDecision
from store.db import Sessionmaker
from tests.conftest import as_role, new_worker
from tests.factories import case_when, clocks_started, signal, start_case
from tests.scenarios import LONDON, at_london, travel_to
from tests.test_api import assert_problem, new_case
from tests.test_workspace_forms import api_errors, browser_of  # noqa: F401
from tests.test_workspace_parallel import section

MARS = Actor(subject="mars@cspr.test", role="mars_team")
PARTNERS = ("local_authority", "health", "police")


def told(decision: str, on: str, **more: Any) -> dict[str, Any]:
    return {"record": {"decision": decision, "told": "The child's mother", "told_on": on,
                       "method": "Home visit by the social worker",
                       "rationale": "The criteria are met: a rapid review follows", **more},
            "actor": MARS.model_dump()}


def reminders(case: CaseState) -> list[str]:
    return [e.detail for e in case.events if e.kind is EventKind.FAMILY_REMINDER]


async def test_a_decision_not_told_to_the_family_is_reminded_until_it_is(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"the rationale communicated appropriately, including to families": once the partners
    have decided, the case owes the family its rationale and reminds the MARS team a week on,
    then weekly; the record (who, when, how) settles it, and no reminder follows."""
    now = (await time_env.get_current_time()).astimezone(LONDON).date()
    monday = now + timedelta(days=7 - now.weekday())
    cid = f"CSPR-2027-FA{uuid.uuid4().hex[:6].upper()}"
    async with new_worker(time_env.client, sessions) as worker:
        await travel_to(time_env, at_london(monday, 10))
        handle = await start_case(time_env.client, worker.task_queue, cid,
                                  await time_env.get_current_time())
        case = await case_when(handle, clocks_started)
        assert case.families.enabled
        assert case.families.owed == []
        await signal(handle, "inform_partners")
        await signal(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Criteria met")
        for p in PARTNERS:
            await signal(handle, "dsp_decision", partner=p, criteria_met=True, rationale="Met")
        case = await case_when(handle, lambda c: bool(c.families.owed))
        assert [o.decision for o in case.families.owed] == [FamilyDecision.PARTNERS_DECISION]
        assert reminders(case) == []

        await travel_to(time_env, at_london(monday + timedelta(days=8), 10))
        case = await case_when(handle, lambda c: bool(reminders(c)))
        assert reminders(case) == ["partners_decision: not yet told to the family"]

        # The rapid review asks how the family will be involved: refused without it.
        told_on = (monday + timedelta(days=8)).isoformat()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("record_family_communication",
                                        told("rapid_review", told_on), result_type=CaseState)
        assert "involvement" in str(refused.value.cause)
        case = await handle.execute_update(
            "record_family_communication", told("partners_decision", told_on),
            result_type=CaseState)
        assert case.families.owed == []
        record = case.families.records[0]
        assert (record.decision, record.told, record.actor) == (
            FamilyDecision.PARTNERS_DECISION, "The child's mother", MARS)
        event = next(e for e in case.events if e.kind is EventKind.FAMILY_COMMUNICATION)
        assert event.detail == "partners_decision: told to the family"  # never who or how

        await travel_to(time_env, at_london(monday + timedelta(days=30), 10))
        case = await handle.query("case", result_type=CaseState)
        assert len(reminders(case)) == 1
        await handle.terminate("test over")


async def _partners_decided(api: AsyncClient, criteria_met: bool = True) -> str:
    """A case whose partners have decided: the criteria met (a rapid review follows), or not
    (the case closes at once)."""
    from tests.test_api import SSL, dsp, ok

    case_id = await new_case(api)
    await ok(api, case_id, "inform-partners")
    await ok(api, case_id, "ssl-recommendation", SSL, criteria_met=criteria_met,
             recommend_panel_notification=criteria_met, rationale="The SSL's view")
    for partner in PARTNERS:
        case = await ok(api, case_id, "dsp-decision", dsp(partner), partner=partner,
                        criteria_met=criteria_met, rationale="The partner's view")
    assert (case["stage"] == "closed") is not criteria_met
    return case_id


async def test_the_family_record_through_the_api(api: AsyncClient) -> None:
    """The MARS team records it and the case shows it; another role is refused (403); a date
    in the future, the rapid review without how the family will be involved, or a decision
    not yet made (the rapid review's, before its meeting) is refused naming the field (422),
    and nothing is recorded."""
    case_id = await _partners_decided(api)
    today = datetime.now(UTC).astimezone(LONDON).date()
    path = f"/v1/cases/{case_id}/family-communications"
    body = told("partners_decision", today.isoformat())["record"]
    assert_problem(await api.post(path, json=body, headers=as_role("dsp", "health")), 403)
    future = {**body, "told_on": (today + timedelta(days=2)).isoformat()}
    assert_problem(await api.post(path, json=future), 422, "told_on")
    assert_problem(await api.post(path, json={**body, "decision": "rapid_review"}), 422,
                   "involvement")
    assert_problem(await api.post(path, json={
        **body, "decision": "rapid_review", "involvement": "Invited to meet the reviewer"}),
        422, "decision")
    assert_problem(await api.post(path, json={**body, "decision": "final_report",
                                              "involvement": "Invited"}), 422, "decision")
    for _ in range(100):
        read = await api.get(f"/v1/cases/{case_id}")
        if read.json().get("families") is not None:
            break
    assert read.json()["families"]["records"] == []
    made = await api.post(path, json={**body, "involvement": "Invited to meet the reviewer"})
    assert made.status_code == 200, made.text
    families = made.json()["families"]
    assert [r["decision"] for r in families["records"]] == ["partners_decision"]
    assert families["records"][0]["method"] == "Home visit by the social worker"
    read = (await api.get(f"/v1/cases/{case_id}")).json()
    assert read["families"]["records"][0]["involvement"] == "Invited to meet the reviewer"
    assert any(e["kind"] == "family_communication" for e in read["events"])


async def test_the_case_page_shows_the_family_records_and_the_form_records_one(
    api: AsyncClient, browser_of: Any,  # noqa: F811
) -> None:
    """The workspace's form goes through the API's route function: the same refusal in the
    same words (no involvement for the rapid review), nothing changed; then recorded, and the
    case page lists it."""
    case_id = await _partners_decided(api)
    mars, csrf = browser_of("mars_team")
    for _ in range(100):
        page = (await mars.get(f"/cases/{case_id}")).text
        if 'id="family"' in page:
            break
    assert "Record a decision told to the family" in page
    today = datetime.now(UTC).astimezone(LONDON).date()
    form = {"csrf_token": csrf, "decision": "rapid_review", "told": "The child's father",
            "told_on-day": str(today.day), "told_on-month": str(today.month),
            "told_on-year": str(today.year), "method": "A meeting at the school",
            "rationale": "The rapid review's decision and why"}
    refused = await mars.post(f"/cases/{case_id}/family", data=form)
    assert refused.status_code == 422
    assert "involvement" in refused.text.lower()
    made = await mars.post(f"/cases/{case_id}/family",
                           data={**form, "decision": "partners_decision",
                                 "involvement": "Invited to the learning event"})
    assert made.status_code == 303, made.text
    family = section((await mars.get(f"/cases/{case_id}")).text, "family")
    assert "The child&#39;s father" in family or "The child's father" in family
    assert "A meeting at the school" in family
    assert "Invited to the learning event" in family
    dsp, _ = browser_of("dsp", "health")
    assert (await dsp.get(f"/cases/{case_id}/family")).status_code == 403


async def test_a_decision_that_closed_the_case_is_told_to_the_family_after_it(
    api: AsyncClient,
) -> None:
    """"Decisions on whether to undertake reviews should be made transparently and the
    rationale communicated appropriately, including to families": the partners' decision
    that the criteria are not met closes the case at once, and is owed to the family as any
    other; once the case's workflow has ended its stored copy takes the record (and its audit
    trail the line, with who recorded it). Bad input is refused naming the field, and
    changes nothing."""
    case_id = await _partners_decided(api, criteria_met=False)
    path = f"/v1/cases/{case_id}/family-communications"
    today = datetime.now(UTC).astimezone(LONDON).date()
    body = {**told("partners_decision", today.isoformat())["record"],
            "rationale": "The criteria are not met: no review follows"}
    for _ in range(200):
        read = (await api.get(f"/v1/cases/{case_id}")).json()
        if read["families"]["owed"]:
            break
    assert [o["decision"] for o in read["families"]["owed"]] == ["partners_decision"]
    future = {**body, "told_on": (today + timedelta(days=2)).isoformat()}
    for _ in range(200):  # while the workflow drains its last e-mails: 409 "closing"
        refused = await api.post(path, json=future)
        if refused.status_code != 409:
            break
    assert_problem(refused, 422, "told_on")
    assert_problem(await api.post(path, json=body, headers=as_role("dsp", "health")), 403)
    before = (await api.get(f"/v1/cases/{case_id}")).json()
    assert before["families"]["records"] == []
    made = await api.post(path, json=body)
    assert made.status_code == 200, made.text
    families = made.json()["families"]
    assert families["owed"] == []
    assert [(r["decision"], r["rationale"]) for r in families["records"]] == [
        ("partners_decision", "The criteria are not met: no review follows")]
    read = (await api.get(f"/v1/cases/{case_id}")).json()
    assert read["stage"] == "closed"
    assert read["families"]["records"][0]["method"] == "Home visit by the social worker"
    rows = (await api.get(f"/v1/cases/{case_id}/events", headers=as_role("auditor"))).json()
    told_rows = [e for e in rows if e["kind"] == "family_communication"]
    assert [(e["detail"], e["actor_role"], e["channel"]) for e in told_rows] == [
        ("partners_decision: told to the family", "mars_team", "api")]
    sequences = [e["sequence"] for e in rows if e.get("part", "case") == "case"]
    assert sequences == list(range(1, len(sequences) + 1))
    assert told_rows[0]["sequence"] == sequences[-1]

    # Erased on the data protection officer's decision: nothing more is added to it.
    erased = await api.post(f"/v1/cases/{case_id}/erasure", json={"reason": "DPO 2026/9"},
                            headers=as_role("admin"))
    assert erased.status_code == 200, erased.text
    problem = assert_problem(await api.post(path, json=body), 409)
    assert "anonymised" in problem["detail"]
    again = (await api.get(f"/v1/cases/{case_id}")).json()
    assert len(again["families"]["records"]) == 1


async def test_a_withdrawn_case_owes_its_family_nothing(api: AsyncClient) -> None:
    """A case withdrawn (entered in error, a duplicate) owes no decision to a family: the
    record is refused (409) and nothing is listed as owed."""
    case_id = await _partners_decided(api)
    withdrawn = await api.post(f"/v1/cases/{case_id}/withdrawal",
                               json={"reason": "Entered twice by mistake"})
    assert withdrawn.status_code == 200, withdrawn.text
    today = datetime.now(UTC).astimezone(LONDON).date()
    body = told("partners_decision", today.isoformat())["record"]
    path = f"/v1/cases/{case_id}/family-communications"
    for _ in range(200):
        refused = await api.post(path, json=body)
        if "withdrawn" in refused.text:
            break
    problem = assert_problem(refused, 409)
    assert "withdrawn" in problem["detail"]
    read = (await api.get(f"/v1/cases/{case_id}")).json()
    assert read["families"]["owed"] == []
    assert read["families"]["records"] == []


def test_who_was_told_and_who_was_asked_are_erased_with_the_case_record() -> None:
    """The retention schedule erases every free-text field of the case: a family member named
    as told of a decision, or asked for consent, is a person's name like free text."""
    from datetime import date

    from domain.families import Families, FamilyCommunication
    from domain.local_review_records import Consent
    from domain.retention import ERASED, anonymise

    families = Families(enabled=True)
    now = datetime(2027, 1, 11, 10, tzinfo=UTC)
    families.decided(FamilyDecision.PARTNERS_DECISION, now)
    families.record(FamilyCommunication(
        decision=FamilyDecision.PARTNERS_DECISION, told="Jane Private", told_on=date(2027, 1, 11),
        method="Home visit", rationale="Why"), now, MARS)
    erased = anonymise(families)
    assert isinstance(erased, Families)
    assert erased.records[0].told == ERASED
    assert "Jane Private" not in erased.model_dump_json()
    consent = Consent(sought_from="John Private", sought_on=date(2027, 1, 11), given=True)
    assert anonymise(consent).sought_from == ERASED  # type: ignore[attr-defined]

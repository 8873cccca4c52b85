"""Differences of opinion through the real API, dev server and case store: raise, escalate,
resolve; every refusal a problem+json naming the field, changing nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient, Response
from pydantic import ValidationError

from domain.differences import DifferenceTargets
from infra.settings import Settings
from tests.conftest import TEST_KEYS, as_role
from tests.test_api import assert_problem, new_case, ok

AGENCY = as_role("agency", "NHS Trust")
SSL = as_role("ssl", "health")
DSP_POLICE = as_role("dsp", "police")
SUMMARY = "The trust considers the serious harm threshold met"


def path(case_id: str, *rest: str) -> str:
    return "/".join((f"/v1/cases/{case_id}/differences-of-opinion", *rest))


async def listed(api: AsyncClient, case_id: str) -> list[dict[str, Any]]:
    response = await api.get(path(case_id))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["differences"]
    return found


async def events(api: AsyncClient, case_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await api.get(f"/v1/cases/{case_id}")).json()["events"]
    return found


async def raise_one(api: AsyncClient, case_id: str, **body: Any) -> Response:
    return await api.post(path(case_id), headers=SSL,
                          json={"subject": "criteria", "summary": SUMMARY, **body})


async def test_a_difference_is_raised_escalated_up_the_ladder_and_resolved(
    api: AsyncClient,
) -> None:
    case_id = await new_case(api)
    raised = await raise_one(api, case_id, target_working_days={"independent_scrutiny": 12})
    assert raised.status_code == 201, raised.text
    d = raised.json()
    assert (d["id"], d["subject"], d["level"]) == ("DOO-1", "criteria", "ssl_and_mars")
    assert d["raised_by"]["role"] == "ssl"
    # The service's targets (CSPR_DIFFERENCE_TARGET_DAYS, 5,5,10), with the one given.
    assert d["targets"] == {"ssl_and_mars": 5, "safeguarding_partners": 5,
                            "independent_scrutiny": 12}
    assert d["target"]["due_date"] is not None

    d = (await api.post(path(case_id, "DOO-1", "escalations"), headers=SSL,
                        json={"reason": "The SSLs cannot agree"})).json()
    assert d["level"] == "safeguarding_partners"
    assert d["history"][0]["how"] == "escalated_by_person"
    assert d["history"][0]["reason"] == "The SSLs cannot agree"
    d = (await api.post(path(case_id, "DOO-1", "escalations"), headers=DSP_POLICE,
                        json={"reason": "The partners cannot agree"})).json()
    assert d["level"] == "independent_scrutiny"
    assert_problem(await api.post(path(case_id, "DOO-1", "escalations"), headers=SSL,
                                  json={"reason": "Again"}), 409, "difference_id")

    resolved = await api.post(path(case_id, "DOO-1", "resolution"), headers=DSP_POLICE,
                              json={"outcome": "Mediation agreed the threshold is met",
                                    "resolved_on": datetime.now(UTC).date().isoformat()})
    assert resolved.status_code == 200, resolved.text
    d = resolved.json()
    assert d["resolution"]["level"] == "independent_scrutiny"
    assert d["resolution"]["by"]["organisation"] == "police"
    assert_problem(await api.post(path(case_id, "DOO-1", "resolution"), headers=SSL,
                                  json={"outcome": "Again"}), 409, "difference_id")
    [kept] = await listed(api, case_id)
    assert kept == d
    kinds = [e["kind"] for e in await events(api, case_id) if e["kind"].startswith("difference")]
    assert kinds == ["difference_raised", "difference_escalated", "difference_escalated",
                     "difference_resolved"]
    # The summary is the case's, never an event's (events are e-mailed and logged).
    assert SUMMARY not in str(await events(api, case_id))


@pytest.mark.parametrize(("body", "field"), [
    ({"subject": "criteria"}, "summary"),
    ({"subject": "the weather", "summary": SUMMARY}, "subject"),
    ({"subject": "criteria", "summary": "  "}, "summary"),
    ({"subject": "criteria", "summary": SUMMARY,
      "target_working_days": {"ssl_and_mars": 0}}, "target_working_days.ssl_and_mars"),
    ({"subject": "criteria", "summary": SUMMARY, "level": "independent_scrutiny"}, "level"),
])
async def test_a_bad_raise_is_422_naming_the_field_and_changes_nothing(
    api: AsyncClient, body: dict[str, Any], field: str,
) -> None:
    case_id = await new_case(api)
    before = await events(api, case_id)
    problem = assert_problem(await api.post(path(case_id), headers=AGENCY, json=body), 422,
                             field)
    assert "the weather" not in str(problem)
    assert await listed(api, case_id) == []
    assert await events(api, case_id) == before


async def test_bad_references_are_refused_and_change_nothing(api: AsyncClient) -> None:
    case_id = await new_case(api)
    assert (await raise_one(api, case_id)).status_code == 201
    # The raising's e-mail to the level's people goes after the answer; here nobody is in the
    # directory, and the case records that (`mail_failed`) once the send has settled.
    for _ in range(100):
        if any(e["kind"] == "mail_failed" for e in await events(api, case_id)):
            break
        await asyncio.sleep(0.1)
    before = (await listed(api, case_id), await events(api, case_id))
    assert_problem(await api.post(path(case_id, "DOO-9", "escalations"), headers=SSL,
                                  json={"reason": "x"}), 404)
    assert_problem(await api.post(path(case_id, "NOT-1", "escalations"), headers=SSL,
                                  json={"reason": "x"}), 422, "difference_id")
    assert_problem(await api.post(path(case_id, "DOO-1", "escalations"), headers=SSL,
                                  json={}), 422, "reason")
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    problem = assert_problem(await api.post(path(case_id, "DOO-1", "resolution"), headers=SSL,
                                            json={"outcome": "x", "resolved_on": tomorrow}),
                             422, "resolved_on")
    assert problem["errors"][0]["reason"] == "is in the future"
    assert_problem(await api.post(path(case_id, "DOO-1", "resolution"), headers=SSL,
                                  json={"outcome": "x", "resolved_on": "2020-01-01"}),
                   422, "resolved_on")
    assert (await listed(api, case_id), await events(api, case_id)) == before
    assert_problem(await api.get(path("CSPR-2026-NOSUCH")), 404)
    assert_problem(await api.post(path("CSPR-2026-NOSUCH"), headers=SSL,
                                  json={"subject": "process", "summary": "x"}), 404)


async def test_a_repeat_with_the_same_idempotency_key_raises_one(api: AsyncClient) -> None:
    case_id = await new_case(api)
    key = {"Idempotency-Key": f"raise-{case_id}", **SSL}
    body = {"subject": "process", "summary": "Letters went late"}
    first = await api.post(path(case_id), headers=key, json=body)
    again = await api.post(path(case_id), headers=key, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(await listed(api, case_id)) == 1


async def test_the_partners_disagreeing_raise_one_their_agreement_resolves(
    api: AsyncClient,
) -> None:
    case_id = await new_case(api)
    await ok(api, case_id, "inform-partners")
    await ok(api, case_id, "ssl-recommendation", SSL, criteria_met=True,
             recommend_panel_notification=True, rationale="x")
    for partner, met in (("local_authority", True), ("health", False), ("police", False)):
        await ok(api, case_id, "dsp-decision", as_role("dsp", partner), partner=partner,
                 criteria_met=met, rationale="Doc 4 Part B")
    [d] = await listed(api, case_id)
    assert (d["level"], d["raised_by"], d["step"]) == ("safeguarding_partners", None,
                                                       "dsp_decision")
    assert d["target"]["due_date"] is not None
    case = await ok(api, case_id, "dsp-decision", as_role("dsp", "local_authority"),
                    partner="local_authority", criteria_met=False, rationale="Persuaded")
    assert case["stage"] == "closed"
    [d] = await listed(api, case_id)  # from the case store, once Temporal lets the case go
    assert d["resolution"]["outcome"] == "The partners agreed the criteria are not met"
    # A closed case takes no more.
    assert_problem(await raise_one(api, case_id), 409)


def test_the_target_setting_is_checked() -> None:
    assert Settings(encryption_keys=TEST_KEYS).difference_targets == DifferenceTargets()
    custom = Settings(encryption_keys=TEST_KEYS, difference_target_days="2,3,4")
    assert custom.difference_targets.model_dump() == {
        "ssl_and_mars": 2, "safeguarding_partners": 3, "independent_scrutiny": 4}
    with pytest.raises(ValidationError, match="CSPR_DIFFERENCE_TARGET_DAYS"):
        Settings(encryption_keys=TEST_KEYS, difference_target_days="5,5")


async def test_an_agency_raises_one_only_on_a_case_it_was_asked_to_report_on(
    api: AsyncClient,
) -> None:
    """Agencies cannot read cases: one not asked for a report is refused (403), as on a case
    that does not exist; one asked may raise a difference."""
    case_id = await new_case(api)
    await ok(api, case_id, "inform-partners")
    await ok(api, case_id, "ssl-recommendation", SSL, criteria_met=True,
             recommend_panel_notification=True, rationale="Met")
    for p in ("local_authority", "health", "police"):
        await ok(api, case_id, "dsp-decision", as_role("dsp", p), partner=p, criteria_met=True,
                 rationale="Met")
    await ok(api, case_id, "agency-requests", agencies=["nhs trust"])
    body = {"subject": "process", "summary": "Asked for a report too late"}
    other = as_role("agency", "Not Involved Ltd")
    assert_problem(await api.post(path(case_id), headers=other, json=body), 403, "org")
    assert_problem(await api.post(path("CSPR-2026-NONE"), headers=other, json=body), 403,
                   "org")
    raised = await api.post(path(case_id), headers=AGENCY, json=body)
    assert raised.status_code == 201, raised.text
    assert raised.json()["raised_by"]["organisation"] == "NHS Trust"

"""A reviewer reaches only the reviews it is assigned to, through the real API (issue 9, item
8: "A reviewer token is bound to the reviews it is assigned to (a claim or an assignment in the
store), not every case")."""

from __future__ import annotations

import asyncio
import uuid

import jwt
from httpx import AsyncClient

from api.auth import issue_token
from domain.permissions import Role
from tests.conftest import TEST_JWT_SECRET, as_role
from tests.test_api import new_case


def reviewer(subject: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(TEST_JWT_SECRET, role=Role.REVIEWER,
                                                     organisation=None, subject=subject)}


async def stored_case(api: AsyncClient) -> str:
    """A new case, once the case store holds it (its projection is an activity)."""
    case_id = await new_case(api)
    for _ in range(300):
        if (await api.get(f"/v1/cases/{case_id}/events")).status_code == 200:
            return case_id
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case_id} never reached the case store")


async def assign(api: AsyncClient, case_id: str, **body: object) -> dict[str, object]:
    response = await api.post(f"/v1/cases/{case_id}/reviewers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_reviewer_reaches_its_assigned_case_only(api: AsyncClient) -> None:
    mine, other = await stored_case(api), await stored_case(api)
    me = reviewer(f"reviewer.{uuid.uuid4().hex[:8]}@independent.test")
    # Not yet assigned: no case, no list, no record.
    for url in (f"/v1/cases/{mine}", f"/v1/cases/{mine}/local-review",
                f"/v1/cases/{mine}/events", f"/v1/cases/{mine}/case-file"):
        response = await api.get(url, headers=me)
        assert response.status_code == 403, (url, response.text)
        assert "assigned" in response.json()["detail"]
    progress = await api.post(f"/v1/cases/{mine}/local-review/progress-return",
                              json={"summary": "On track"}, headers=me)
    assert progress.status_code == 403
    assert (await api.get("/v1/cases", headers=me)).json()["total"] == 0
    # Assigned to one case: that one, and no other.
    row = await assign(api, mine, subject=me_subject(me))
    assert row["assigned_by"] == "mars_team-tester@cspr.test"
    assert (await api.get(f"/v1/cases/{mine}", headers=me)).status_code == 200
    assert (await api.get(f"/v1/cases/{other}", headers=me)).status_code == 403
    listed = (await api.get("/v1/cases", headers=me, params={"limit": 200})).json()
    assert [c["case_id"] for c in listed["items"]] == [mine]
    assert [r["subject"] for r in (await api.get(f"/v1/cases/{mine}/reviewers")).json()] == [
        me_subject(me)]
    # The assignment ended: the case is out of reach again.
    ended = await api.delete(f"/v1/cases/{mine}/reviewers", params={"subject": me_subject(me)})
    assert ended.status_code == 204
    assert (await api.get(f"/v1/cases/{mine}", headers=me)).status_code == 403
    again = await api.delete(f"/v1/cases/{mine}/reviewers", params={"subject": me_subject(me)})
    assert again.status_code == 204


def me_subject(headers: dict[str, str]) -> str:
    token = headers["Authorization"].removeprefix("Bearer ")
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


async def test_a_reviewer_is_assigned_from_the_partner_directory(api: AsyncClient) -> None:
    case_id = await stored_case(api)
    email = f"reviewer.{uuid.uuid4().hex[:8]}@independent.test"
    organisation = (await api.post("/v1/directory/organisations", json={
        "name": f"Independent reviewers {uuid.uuid4().hex[:6]}", "kind": "agency"})).json()
    person = (await api.post(f"/v1/directory/organisations/{organisation['id']}/people", json={
        "name": "Alex Reviewer", "email": email, "role": "reviewer"})).json()
    row = await assign(api, case_id, person_id=person["id"])
    assert row["subject"] == email
    assert (await api.get(f"/v1/cases/{case_id}", headers=reviewer(email))).status_code == 200
    missing = await api.post(f"/v1/cases/{case_id}/reviewers", json={"person_id": 2**31 - 1})
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "person_id"
    both = await api.post(f"/v1/cases/{case_id}/reviewers",
                          json={"person_id": person["id"], "subject": email})
    assert both.status_code == 422


async def test_only_the_mars_team_and_operations_assign_reviewers(api: AsyncClient) -> None:
    case_id = await stored_case(api)
    for headers in (as_role("ssl", "health"), as_role("agency", "Police"),
                    as_role("board"), reviewer("someone@independent.test")):
        response = await api.post(f"/v1/cases/{case_id}/reviewers",
                                  json={"subject": "someone@independent.test"},
                                  headers=headers)
        assert response.status_code == 403, headers
    admin = await api.post(f"/v1/cases/{case_id}/reviewers",
                           json={"subject": "x@independent.test"}, headers=as_role("admin"))
    assert admin.status_code == 201
    assert (await api.post("/v1/cases/CSPR-2019-NOSUCH/reviewers",
                           json={"subject": "x@y.test"})).status_code == 404


async def test_a_reviewer_decodes_no_payload(api: AsyncClient) -> None:
    """A payload does not say whose case it is: the codec is not a way round the binding."""
    response = await api.post("/v1/codec/decode", json={"payloads": []},
                              headers=reviewer("reviewer@independent.test"))
    assert response.status_code == 403

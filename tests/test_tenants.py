"""Tenants: one service for several partnerships (store.tenancy; README, Operations, Tenants).
Through the real API on the dev server and PostgreSQL: a person of one partnership never sees
or changes another's cases (404, as for a case that does not exist), on every case route; the
lists, the deadlines, the directory, the letters and the subject access export are each
partnership's own; the case's workflow carries its partnership as a search attribute."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
import zipfile
from datetime import date, timedelta
from typing import Any, cast

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError
from temporalio.testing import WorkflowEnvironment

from api.auth import issue_token
from domain.permissions import Role
from infra.reconcile import _reconcile_one
from store import tenancy
from store.db import Sessionmaker
from store.models import CasePartnership, OutboxMessage
from tests.conftest import TEST_JWT_SECRET, http_client
from tests.test_api import body
from web import session
from workflows import search_attributes as sa


def as_(role: str, partnership: str | None, org: str | None = None) -> dict[str, str]:
    token = issue_token(TEST_JWT_SECRET, role=Role(role), organisation=org,
                        subject=f"{role}-{partnership or 'default'}@cspr.test",
                        partnership=partnership)
    return {"Authorization": f"Bearer {token}"}


def names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:6]
    return f"north-{tag}", f"south-{tag}"


async def open_case(api: AsyncClient, partnership: str | None, **overrides: Any) -> str:
    created = await api.post("/v1/notifications", json=body(**overrides),
                             headers=as_("mars_team", partnership))
    assert created.status_code == 201, created.text
    case_id: str = created.json()["case_id"]
    return case_id


def _filled(path: str) -> str:
    """A path of the OpenAPI document with its other parameters filled in."""
    return re.sub(r"\{(\w+)\}", lambda m: {"difference_id": "1", "document_id": "1",
                                           "message_id": "1", "kind": "section_28"}
                  .get(m[1], m[0]), path)


async def test_another_partnerships_case_is_not_found_on_every_case_route(
    api_app: FastAPI, api: AsyncClient,
) -> None:
    north, south = names()
    case_id = await open_case(api, north)
    assert (await api.get(f"/v1/cases/{case_id}",
                          headers=as_("mars_team", north))).status_code == 200
    paths = api_app.openapi()["paths"]
    routes = [(method.upper(), _filled(path).replace("{case_id}", case_id))
              for path, operations in paths.items() if "{case_id}" in path
              for method in operations]
    assert len(routes) > 60
    wrong: list[str] = []
    async with http_client(api_app) as http:
        for role, org in (("mars_team", None), ("admin", None), ("dsp", "health")):
            for partnership in (south, None):  # another partnership, and the default one
                headers = as_(role, partnership, org)
                for method, path in routes:
                    answer = await http.request(method, path, headers=headers, json={})
                    if answer.status_code != 404 or case_id not in answer.json()["detail"]:
                        wrong.append(f"{role}/{partnership} {method} {path}: "
                                     f"{answer.status_code}")
    assert wrong == []
    # The case's own partnership still reaches it, and nothing above changed it.
    case = await api.get(f"/v1/cases/{case_id}", headers=as_("mars_team", north))
    assert case.status_code == 200
    assert case.json()["stage"] == "notified"


async def test_lists_and_deadlines_are_each_partnerships_own(
    api: AsyncClient, dev_env: WorkflowEnvironment,
) -> None:
    north, south = names()
    north_case = await open_case(api, north)
    south_case = await open_case(api, south)
    default_case = await open_case(api, None)

    async def listed(partnership: str | None) -> set[str]:
        page = await api.get("/v1/cases", params={"limit": 200},
                             headers=as_("mars_team", partnership))
        assert page.status_code == 200, page.text
        return {c["case_id"] for c in page.json()["items"]}

    assert north_case in await listed(north)
    assert not {south_case, default_case} & await listed(north)
    assert await listed(south) == {south_case}
    assert default_case in await listed(None)
    assert not {north_case, south_case} & await listed(None)

    window = {"from": (date.today() - timedelta(days=30)).isoformat(),
              "to": (date.today() + timedelta(days=300)).isoformat()}

    async def due(partnership: str | None) -> set[str]:
        answer = await api.get("/v1/deadlines", params=window,
                               headers=as_("mars_team", partnership))
        assert answer.status_code == 200, answer.text
        return {item["case_id"] for item in answer.json()}

    assert await due(south) == {south_case}
    north_due = await due(north)
    assert north_case in north_due
    assert south_case not in north_due
    assert not {north_case, south_case} & await due(None)

    # The workflow carries its partnership for search-attribute queries (the Temporal UI).
    described = await dev_env.client.get_workflow_handle(north_case).describe()
    assert described.typed_search_attributes.get(sa.PARTNERSHIP) == north
    found = [w.id async for w in dev_env.client.list_workflows(
        f"CsprPartnership = '{south}'")]
    for _ in range(50):  # visibility is eventually consistent
        if found:
            break
        await asyncio.sleep(0.2)
        found = [w.id async for w in dev_env.client.list_workflows(
            f"CsprPartnership = '{south}'")]
    assert found == [south_case]


async def test_a_case_number_given_by_another_partnership_is_refused(api: AsyncClient) -> None:
    north, south = names()
    case_id = await open_case(api, north)
    taken = await api.post("/v1/notifications", json=body(case_id=case_id),
                           headers=as_("mars_team", south))
    assert taken.status_code == 409, taken.text
    assert (await api.get(f"/v1/cases/{case_id}",
                          headers=as_("mars_team", south))).status_code == 404


async def test_the_directory_and_the_letters_are_each_partnerships_own(
    api: AsyncClient, sessions: Sessionmaker,
) -> None:
    north, south = names()
    people: dict[str, set[str]] = {}
    for partnership in (north, south):
        mars = as_("mars_team", partnership)
        organisation = await api.post("/v1/directory/organisations", headers=mars, json={
            "name": f"Police of {partnership}", "kind": "partner", "partner": "police"})
        assert organisation.status_code == 201, organisation.text
        org_id = organisation.json()["id"]
        emails = set()
        for role in ("dsp", "ssl"):
            email = f"{role}@{partnership}.example"
            person = await api.post(f"/v1/directory/organisations/{org_id}/people",
                                    headers=mars, json={"name": f"{role} of {partnership}",
                                                        "email": email, "role": role})
            assert person.status_code == 201, person.text
            emails.add(email)
        people[partnership] = emails
        listing = await api.get("/v1/directory/organisations", headers=mars)
        assert [o["name"] for o in listing.json()] == [f"Police of {partnership}"]
    # Another partnership's organisation is not there to add people to.
    listing = await api.get("/v1/directory/organisations", headers=as_("mars_team", north))
    north_org = listing.json()[0]
    refused = await api.post(f"/v1/directory/organisations/{north_org['id']}/people",
                             headers=as_("mars_team", south),
                             json={"name": "Intruder", "email": "x@south.example",
                                   "role": "dsp"})
    assert refused.status_code == 404, refused.text
    person_id = north_org["people"][0]["id"]
    changed = await api.patch(f"/v1/directory/people/{person_id}",
                              headers=as_("mars_team", south), json={"active": False})
    assert changed.status_code == 404, changed.text

    # The letters informing the partners of a north case go to north's directory only.
    case_id = await open_case(api, north)
    sent = await api.post(f"/v1/cases/{case_id}/letters/inform-partners",
                          headers=as_("mars_team", north), json={})
    assert sent.status_code in (200, 202), sent.text
    addresses: set[str] = set()
    for _ in range(100):
        async with sessions() as session:
            addresses = set(await session.scalars(
                select(OutboxMessage.to_address).where(OutboxMessage.case_id == case_id)))
        if addresses:
            break
        await asyncio.sleep(0.2)
    assert addresses, "no letter written"
    assert addresses <= people[north], addresses


async def test_subject_access_and_erasure_reach_only_the_partnerships_cases(
    api: AsyncClient,
) -> None:
    north, south = names()
    reference = f"NL-TENANT-{uuid.uuid4().hex[:6]}"
    child = [{"reference": reference, "date_of_birth": "2019-02-03"}]
    north_case = await open_case(api, north, children=child)
    south_case = await open_case(api, south, children=child)

    async def exported(partnership: str) -> list[str]:
        answer = await api.post("/v1/admin/subject-access", json={"child_reference": reference},
                                headers=as_("admin", partnership))
        assert answer.status_code == 200, answer.text
        with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            assert all(not name.startswith(north_case if partnership == south else south_case)
                       for name in archive.namelist())
        cases: list[str] = manifest["cases"]
        return cases

    assert await exported(north) == [north_case]
    assert await exported(south) == [south_case]
    erased = await api.post(f"/v1/cases/{north_case}/erasure", json={"reason": "DPO 1"},
                            headers=as_("admin", south))
    assert erased.status_code == 404, erased.text


@pytest.mark.parametrize("partnership", ["North", "north_east", "-north", "n" * 65, 7])
async def test_a_token_naming_no_valid_partnership_is_refused(
    anonymous: AsyncClient, partnership: object,
) -> None:
    import jwt

    from tests.conftest import token as default_token
    claims = jwt.decode(default_token("mars_team"), options={"verify_signature": False})
    claims["partnership"] = partnership
    forged = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")
    answer = await anonymous.get("/v1/cases", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401
    assert "partnership" in answer.json()["detail"]


async def test_reconcile_brings_back_a_cases_partnership_from_its_search_attribute(
    api: AsyncClient, dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """After a restore from a backup older than the case, its partnership row is gone: the
    case would fall to the default partnership. Reconcile reads it back from the workflow."""
    north, _ = names()
    case_id = await open_case(api, north)
    async with sessions.begin() as session:
        await session.execute(delete(CasePartnership).where(CasePartnership.case_id == case_id))
    assert (await api.get(f"/v1/cases/{case_id}",
                          headers=as_("mars_team", north))).status_code == 404
    handle = dev_env.client.get_workflow_handle(case_id)
    run_id = (await handle.describe()).run_id
    await _reconcile_one(dev_env.client, sessions, case_id, run_id, "SeriousIncident")
    async with sessions() as session:
        assert await tenancy.partnership_of(session, case_id) == north
    assert (await api.get(f"/v1/cases/{case_id}",
                          headers=as_("mars_team", north))).status_code == 200
    assert (await api.get(f"/v1/cases/{case_id}",
                          headers=as_("mars_team", None))).status_code == 404


async def test_the_workspace_pages_do_not_show_another_partnerships_case(
    api_app: FastAPI, api: AsyncClient,
) -> None:
    """The workspace's people are the default partnership's: a north case is not found on its
    case pages (and not listed), while a default one is shown."""
    north, _ = names()
    north_case = await open_case(api, north)
    default_case = await open_case(api, None)
    person = session.new_person("mars-tester@cspr.test", "Tester", Role.MARS_TEAM, None)
    cookies = {session.COOKIE: session.encode(api_app.state.settings, person)}
    async with http_client(api_app) as web:
        web.cookies.update(cookies)
        shown = await web.get(f"/cases/{default_case}")
        assert shown.status_code == 200
        assert default_case in shown.text
        hidden = await web.get(f"/cases/{north_case}")
        assert hidden.status_code == 404
        listed = await web.get("/cases")
        assert listed.status_code == 200
        assert north_case not in listed.text


async def test_an_idempotency_key_is_the_partnerships_own(api: AsyncClient) -> None:
    """Two partnerships whose identity providers name someone alike, sending the same key: two
    cases, not the first one's answer given to the other."""
    north, south = names()
    key = str(uuid.uuid4())
    answers = []
    for partnership in (north, south, north):
        token = issue_token(TEST_JWT_SECRET, role=Role.MARS_TEAM, subject="mars@same.example",
                            partnership=partnership)
        answer = await api.post("/v1/notifications", json=body(), headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": key})
        assert answer.status_code == 201, answer.text
        answers.append(answer.json()["case_id"])
    assert answers[0] != answers[1]
    assert answers[2] == answers[0]  # the same partnership's repeat: the same case


def test_a_key_owner_fits_the_store_however_long_the_subject() -> None:
    from api.auth import Principal
    long = "x" * 200
    assert Principal(long, Role.MARS_TEAM).key_owner == long
    owner = Principal(long, Role.MARS_TEAM, partnership="n" * 64).key_owner
    assert len(owner) <= 200
    assert owner != Principal("y" * 200, Role.MARS_TEAM, partnership="n" * 64).key_owner
    assert Principal("a@b", Role.MARS_TEAM, partnership="north").key_owner == "north:a@b"


class _GoneAway:
    """A session of a store that goes away: its read fails if `read_fails`, its close always."""

    def __init__(self, read_fails: bool) -> None:
        self.read_fails = read_fails

    async def scalar(self, *_: Any) -> str:
        if self.read_fails:
            raise OperationalError("SELECT", {}, ConnectionResetError("gone"))
        return "north"

    async def close(self) -> None:
        raise OperationalError("ROLLBACK", {}, ConnectionResetError("gone"))


@pytest.mark.parametrize("read_fails", [False, True])
async def test_the_partnership_check_with_the_store_going_away_is_503_never_500(
    read_fails: bool,
) -> None:
    """Found by the fault suite's kind of outage: the check's read failing is 503 (try again),
    its session failing to close after a good read fails nothing."""
    from types import SimpleNamespace

    from api.auth import Principal
    from api.deps import partnership_bound
    from api.errors import ApiError

    session = _GoneAway(read_fails)
    request = cast(Any, SimpleNamespace(
        path_params={"case_id": "CSPR-2026-0001"},
        app=SimpleNamespace(state=SimpleNamespace(sessions=lambda: session))))
    principal = Principal("mars@north", Role.MARS_TEAM, partnership="north")
    if read_fails:
        with pytest.raises(ApiError) as refused:
            await partnership_bound(principal, request)
        assert refused.value.problem.status == 503
    else:
        await partnership_bound(principal, request)  # north's case: through
        with pytest.raises(ApiError) as hidden:
            await partnership_bound(Principal("x", Role.MARS_TEAM, partnership="south"),
                                    request)
        assert hidden.value.problem.status == 404

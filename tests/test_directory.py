"""The partner directory through the real API: organisations and their people, validation,
duplicates, idempotency, deactivation, and the recipients of letters and reminders."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.directory import OrganisationKind, normalise_email
from domain.permissions import Role
from domain.procedure import Partner
from infra.settings import Settings
from store import directory
from store.db import Sessionmaker, make_engine, make_sessionmaker
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS, as_role, http_client

ORGANISATIONS = "/v1/directory/organisations"


def uniq() -> str:
    return uuid.uuid4().hex[:10]


def assert_problem(response: Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    if field is not None:
        assert [e["field"] for e in problem["errors"]] == [field], problem
    return problem


async def new_organisation(api: AsyncClient, kind: str = "agency", partner: str | None = None,
                           name: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name or f"Agency {uniq()}", "kind": kind}
    if partner is not None:
        body["partner"] = partner
    response = await api.post(ORGANISATIONS, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def new_person(api: AsyncClient, organisation_id: int, role: str = "agency",
                     email: str | None = None, name: str = "Sam Patel") -> dict[str, Any]:
    response = await api.post(f"{ORGANISATIONS}/{organisation_id}/people", json={
        "name": name, "email": email or f"person.{uniq()}@cspr.test", "role": role})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def listing(api: AsyncClient, organisation_id: int, **params: Any) -> dict[str, Any]:
    response = await api.get(ORGANISATIONS, params=params)
    assert response.status_code == 200, response.text
    [found] = [o for o in response.json() if o["id"] == organisation_id]
    return dict(found)


async def test_partners_and_agencies_with_their_people(api: AsyncClient) -> None:
    name = f"Humber ICB {uniq()}"
    health = await new_organisation(api, "partner", "health", name=name)
    assert health == {"id": health["id"], "name": name, "kind": "partner",
                      "partner": "health", "people": []}
    agency = await new_organisation(api)
    assert (agency["kind"], agency["partner"]) == ("agency", None)

    tag = uniq()
    dsp = await new_person(api, health["id"], "dsp", f"  Dsp.{tag}@NHS.Example ", "Zoe Dsp")
    assert dsp == {"id": dsp["id"], "organisation_id": health["id"], "name": "Zoe Dsp",
                   "email": f"dsp.{tag}@nhs.example", "role": "dsp", "active": True}
    ssl = await new_person(api, health["id"], "ssl", name="Ann Ssl")
    worker = await new_person(api, agency["id"], "agency")

    listed = await listing(api, health["id"])
    assert [p["id"] for p in listed["people"]] == [ssl["id"], dsp["id"]]  # by name
    assert listed["people"][1] == dsp
    assert (await listing(api, agency["id"]))["people"] == [worker]
    # Organisations come by name; the auditor and the admin read the directory too.
    for role in ("auditor", "admin"):
        response = await api.get(ORGANISATIONS, headers=as_role(role))
        assert response.status_code == 200
        ids = [o["id"] for o in response.json()]
        assert ids.index(agency["id"]) < ids.index(health["id"])  # "Agency ..." < "Humber ..."


async def test_deactivated_people_receive_nothing_and_stay_on_record(
    api: AsyncClient, sessions: Sessionmaker
) -> None:
    police = await new_organisation(api, "partner", "police", name=f"Police {uniq()}")
    agency = await new_organisation(api, name=f"School {uniq()}")
    leaving = await new_person(api, police["id"], "dsp", name="Lee Leaving")
    staying = await new_person(api, police["id"], "dsp", name="Sue Staying")
    teacher = await new_person(api, agency["id"], "agency")

    async with sessions() as session:
        police_dsps = await directory.recipients(session, Role.DSP, "police")
        by_name = await directory.recipients(session, Role.DSP, police["name"].upper())
        agency_people = await directory.recipients(session, Role.AGENCY, agency["name"])
        all_dsps = await directory.recipients(session, Role.DSP)
    assert {leaving["id"], staying["id"]} <= {p.id for p in police_dsps}
    assert [p.id for p in by_name] == [leaving["id"], staying["id"]]
    assert [p.id for p in agency_people] == [teacher["id"]]
    assert {leaving["id"], staying["id"]} <= {p.id for p in all_dsps}
    assert teacher["id"] not in {p.id for p in all_dsps}

    response = await api.patch(f"/v1/directory/people/{leaving['id']}", json={"active": False})
    assert response.status_code == 200, response.text
    assert response.json() == {**leaving, "active": False}

    async with sessions() as session:
        assert [p.id for p in await directory.recipients(session, Role.DSP, police["name"])
                ] == [staying["id"]]
        assert leaving["id"] not in {p.id for p in await directory.recipients(session, Role.DSP)}
        # Never deleted: letters already sent name them.
        kept = await directory.get_person(session, leaving["id"])
        assert (kept.name, kept.active) == ("Lee Leaving", False)
    assert [p["id"] for p in (await listing(api, police["id"]))["people"]] == [staying["id"]]
    everyone = await listing(api, police["id"], include_inactive="true")
    assert [(p["id"], p["active"]) for p in everyone["people"]] == [
        (leaving["id"], False), (staying["id"], True)]

    # Back again.
    response = await api.patch(f"/v1/directory/people/{leaving['id']}", json={"active": True})
    assert response.json()["active"] is True
    async with sessions() as session:
        assert leaving["id"] in {p.id for p in await directory.recipients(session, Role.DSP,
                                                                         "police")}


async def test_a_new_email_or_role(api: AsyncClient, sessions: Sessionmaker) -> None:
    council = await new_organisation(api, "partner", "local_authority",
                                     name=f"Council {uniq()}")
    person = await new_person(api, council["id"], "ssl")
    email = f"new.{uniq()}@council.example"
    response = await api.patch(f"/v1/directory/people/{person['id']}",
                               json={"email": email.upper(), "role": "dsp", "name": "Kim New"})
    assert response.status_code == 200, response.text
    assert response.json() == {**person, "email": email, "role": "dsp", "name": "Kim New"}
    async with sessions() as session:
        assert person["id"] in {p.id for p in await directory.recipients(
            session, Role.DSP, "local_authority")}
        assert person["id"] not in {p.id for p in await directory.recipients(session, Role.SSL)}


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "partner", "partner": "health"}, "name"),
    ({"name": "  ", "kind": "agency"}, "name"),
    ({"name": "x" * 201, "kind": "agency"}, "name"),
    ({"name": "A", "kind": "charity"}, "kind"),
    ({"name": "A", "kind": "partner"}, "partner"),
    ({"name": "A", "kind": "partner", "partner": "fire_service"}, "partner"),
    ({"name": "A", "kind": "agency", "partner": "health"}, "partner"),
    ({"name": "A", "kind": "agency", "people": []}, "people"),
])
async def test_an_invalid_organisation_is_422_naming_the_field(
    api: AsyncClient, body: dict[str, Any], field: str
) -> None:
    assert_problem(await api.post(ORGANISATIONS, json=body), 422, field)


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "a@cspr.test", "role": "agency"}, "name"),
    ({"name": "A", "role": "agency"}, "email"),
    ({"name": "A", "email": "not an address", "role": "agency"}, "email"),
    ({"name": "A", "email": "a@localhost", "role": "agency"}, "email"),
    ({"name": "A", "email": "a..b@cspr.test", "role": "agency"}, "email"),
    ({"name": "A", "email": f"{'a' * 65}@cspr.test", "role": "agency"}, "email"),
    ({"name": "A", "email": "a@cspr.test", "role": "panel"}, "role"),
    ({"name": "A", "email": "a@cspr.test"}, "role"),
    ({"name": "A", "email": "a@cspr.test", "role": "agency", "active": False}, "active"),
])
async def test_an_invalid_person_is_422_naming_the_field(
    api: AsyncClient, body: dict[str, Any], field: str
) -> None:
    agency = await new_organisation(api)
    response = await api.post(f"{ORGANISATIONS}/{agency['id']}/people", json=body)
    problem = assert_problem(response, 422, field)
    assert "not an address" not in response.text  # the value is never echoed
    if field == "email" and "email" in body:
        assert problem["errors"][0]["reason"] == "is not an e-mail address"


async def test_an_ssl_or_dsp_belongs_to_a_partner(api: AsyncClient) -> None:
    agency = await new_organisation(api)
    for role in ("ssl", "dsp"):
        response = await api.post(f"{ORGANISATIONS}/{agency['id']}/people", json={
            "name": "A", "email": f"a.{uniq()}@cspr.test", "role": role})
        assert_problem(response, 422, "role")
    person = await new_person(api, agency["id"], "mars_team")
    assert_problem(await api.patch(f"/v1/directory/people/{person['id']}",
                                   json={"role": "dsp"}), 422, "role")


@pytest.mark.parametrize(("body", "field"), [
    ({}, "body"),
    ({"active": None}, "active"),
    ({"email": None}, "email"),
    ({"email": "nobody"}, "email"),
    ({"role": "king"}, "role"),
    ({"name": ""}, "name"),
    ({"organisation_id": 1}, "organisation_id"),
])
async def test_an_invalid_change_is_422_naming_the_field(
    api: AsyncClient, body: dict[str, Any], field: str
) -> None:
    agency = await new_organisation(api)
    person = await new_person(api, agency["id"])
    assert_problem(await api.patch(f"/v1/directory/people/{person['id']}", json=body), 422,
                   field)


async def test_duplicates_are_409(api: AsyncClient) -> None:
    agency = await new_organisation(api)
    for name in (agency["name"], agency["name"].upper(), f"  {agency['name']} "):
        problem = assert_problem(await api.post(ORGANISATIONS, json={
            "name": name, "kind": "agency"}), 409, "name")
        assert agency["name"] not in problem["detail"]
    email = f"twice.{uniq()}@cspr.test"
    first = await new_person(api, agency["id"], email=email)
    other = await new_organisation(api)
    for address in (email, email.upper()):
        response = await api.post(f"{ORGANISATIONS}/{other['id']}/people", json={
            "name": "B", "email": address, "role": "agency"})
        assert_problem(response, 409, "email")
        assert email not in response.text.lower()
    second = await new_person(api, other["id"])
    assert_problem(await api.patch(f"/v1/directory/people/{second['id']}",
                                   json={"email": email}), 409, "email")
    # One's own address is no duplicate.
    response = await api.patch(f"/v1/directory/people/{first['id']}", json={"email": email})
    assert response.status_code == 200, response.text


async def test_concurrent_duplicates_are_409_not_500(api: AsyncClient) -> None:
    body = {"name": f"Race {uniq()}", "kind": "agency"}
    responses = await asyncio.gather(*(api.post(ORGANISATIONS, json=body) for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    organisation_id = next(r.json()["id"] for r in responses if r.status_code == 201)
    person = {"name": "R", "email": f"race.{uniq()}@cspr.test", "role": "agency"}
    responses = await asyncio.gather(*(
        api.post(f"{ORGANISATIONS}/{organisation_id}/people", json=person) for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "email")


async def test_unknown_ids_are_404(api: AsyncClient) -> None:
    body = {"name": "A", "email": f"a.{uniq()}@cspr.test", "role": "agency"}
    for organisation_id in (2**31 - 1, 999_999):
        response = await api.post(f"{ORGANISATIONS}/{organisation_id}/people", json=body)
        assert_problem(response, 404)
        assert response.json()["title"] == "Organisation not found"
    response = await api.patch(f"/v1/directory/people/{2**31 - 1}", json={"active": False})
    assert_problem(response, 404)
    assert response.json()["title"] == "Person not found"
    # Not an id at all: a 422 naming it, not a 500.
    for bad in ("0", str(2**31), str(2**63), "abc"):
        assert_problem(await api.post(f"{ORGANISATIONS}/{bad}/people", json=body), 422,
                       "organisation_id")
        assert_problem(await api.patch(f"/v1/directory/people/{bad}", json={"active": False}),
                       422, "person_id")


async def test_a_repeat_with_the_same_idempotency_key_is_done_once(api: AsyncClient) -> None:
    body = {"name": f"Repeat {uniq()}", "kind": "partner", "partner": "police"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await api.post(ORGANISATIONS, json=body, headers=key)
    again = await api.post(ORGANISATIONS, json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    response = await api.get(ORGANISATIONS)
    assert [o["name"] for o in response.json()].count(body["name"]) == 1
    # Without the key, the same body is a duplicate; with it and another body, refused.
    assert_problem(await api.post(ORGANISATIONS, json=body), 409, "name")
    assert_problem(await api.post(ORGANISATIONS, json={**body, "name": "Other"}, headers=key),
                   422, "Idempotency-Key")

    organisation_id = first.json()["id"]
    person = {"name": "P", "email": f"p.{uniq()}@cspr.test", "role": "dsp"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    added = [await api.post(f"{ORGANISATIONS}/{organisation_id}/people", json=person,
                            headers=key) for _ in range(2)]
    assert [r.status_code for r in added] == [201, 201]
    assert added[0].json() == added[1].json()
    assert len((await listing(api, organisation_id))["people"]) == 1

    person_id = added[0].json()["id"]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    changed = [await api.patch(f"/v1/directory/people/{person_id}", json={"active": False},
                               headers=key) for _ in range(2)]
    assert [r.status_code for r in changed] == [200, 200]
    assert changed[0].json() == changed[1].json()
    # A refusal is kept too: the same key and body get the same 409.
    key = {"Idempotency-Key": str(uuid.uuid4())}
    refused = [await api.post(ORGANISATIONS, json=body, headers=key) for _ in range(2)]
    assert [r.status_code for r in refused] == [409, 409]
    assert refused[0].json() == refused[1].json()


async def test_only_the_mars_team_and_admin_change_it(api: AsyncClient) -> None:
    agency = await new_organisation(api)
    admin = await api.post(ORGANISATIONS, json={"name": f"By admin {uniq()}", "kind": "agency"},
                           headers=as_role("admin"))
    assert admin.status_code == 201
    for role, org in (("auditor", None), ("dsp", "health"), ("agency", agency["name"])):
        response = await api.post(ORGANISATIONS, json={"name": f"X {uniq()}", "kind": "agency"},
                                  headers=as_role(role, org))
        assert_problem(response, 403)
    response = await api.get(ORGANISATIONS, headers=as_role("agency", agency["name"]))
    assert_problem(response, 403)


async def test_the_store_functions(sessions: Sessionmaker) -> None:
    """What the API does not (yet) expose: renaming an organisation and changing its kind."""
    async with sessions.begin() as session:
        organisation = await directory.add_organisation(
            session, f"Trust {uniq()}", OrganisationKind.AGENCY)
        person = await directory.add_person(session, organisation.id, "Al",
                                            f"al.{uniq()}@cspr.test", Role.AGENCY)
    async with sessions.begin() as session:
        renamed = f"Renamed {uniq()}"
        await directory.update_organisation(session, organisation.id, name=renamed,
                                            kind=OrganisationKind.PARTNER, partner=Partner.HEALTH)
        await directory.update_person(session, person.id, role=Role.DSP)
        with pytest.raises(directory.Invalid) as refused:
            await directory.update_organisation(session, organisation.id,
                                                kind=OrganisationKind.AGENCY)
        assert refused.value.problem.field == "kind"
    async with sessions() as session:
        [listed] = [x for x in await directory.list_organisations(session)
                    if x.organisation.id == organisation.id]
        assert (listed.organisation.name, listed.organisation.partner) == (renamed, "health")
        assert [p.role for p in listed.people] == ["dsp"]
        await directory.deactivate_person(session, person.id)
        assert person.id not in {p.id for p in await directory.recipients(session, Role.DSP,
                                                                         "health")}
        await session.rollback()
    async with sessions() as session:
        with pytest.raises(directory.Duplicate):
            await directory.add_organisation(session, renamed.lower(), OrganisationKind.AGENCY)
        with pytest.raises(directory.Invalid):
            await directory.update_organisation(session, organisation.id,
                                                partner=None, kind=OrganisationKind.PARTNER)
        with pytest.raises(directory.NotFound):
            await directory.deactivate_person(session, 2**31 - 1)


def test_email_addresses() -> None:
    assert normalise_email(" Sam.Patel+cspr@NHS.Example ") == "sam.patel+cspr@nhs.example"
    for bad in ("", "a", "a@b", "a@b.c", "@x.org", "a@.x.org", "a.@x.org", "a@x..org",
                "a@x.org.", "a b@x.org", "a@x_y.org", '"a"@x.org', "a@[127.0.0.1]",
                "é@x.org", "a@x.123", "a@" + "b" * 64 + ".org", "a@@x.org"):
        with pytest.raises(ValueError, match="is not an e-mail address"):
            normalise_email(bad)


async def test_503_when_the_store_is_down(api_app: FastAPI, dev_env: WorkflowEnvironment) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/nowhere")
    app = create_app(Settings(encryption_keys=TEST_KEYS, jwt_secret=TEST_JWT_SECRET),
                     dev_env.client, make_sessionmaker(engine))
    async with app.router.lifespan_context(app), http_client(app, as_role("mars_team")) as http:
        body = {"name": "A", "kind": "agency"}
        for response in (
            await http.get(ORGANISATIONS),
            await http.post(ORGANISATIONS, json=body),
            await http.post(ORGANISATIONS, json=body, headers={"Idempotency-Key": "k1"}),
            await http.post(f"{ORGANISATIONS}/1/people",
                            json={"name": "A", "email": "a@cspr.test", "role": "agency"}),
            await http.patch("/v1/directory/people/1", json={"active": False}),
        ):
            problem = assert_problem(response, 503)
            assert response.headers["retry-after"]
            assert "case store" in problem["detail"]
    await engine.dispose()
    assert api_app is not None

"""Tenants in the workspace: a person signs in (the development sign-in, or OpenID Connect) as
their directory organisation's partnership, and every page shows that partnership's cases
only: My work, the case list and its search, a case and its forms (404 for another's, as the
API answers), the Board's report, the calendar feed and the directory. Two partnerships' people,
through the pages; the real app, dev server, worker and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict
from datetime import UTC, datetime

from fastapi import FastAPI
from httpx import AsyncClient
from icalendar import Calendar

from domain.permissions import Role
from tests.conftest import http_client
from tests.test_tenants import as_
from tests.test_workspace_whole_case import HIDDEN, Browser, sign_in
from web import session


async def directory_of(api: AsyncClient, partnership: str | None, tag: str) -> dict[str, str]:
    """A police partner with a coordinator and a DSP, in `partnership`'s directory (set up
    through the API as that partnership's MARS team)."""
    mars = as_("mars_team", partnership)
    r = await api.post("/v1/directory/organisations", headers=mars, json={
        "name": f"Police {tag}", "kind": "partner", "partner": "police"})
    assert r.status_code == 201, r.text
    org = r.json()["id"]
    people = {}
    for role, name in (("mars_team", f"Coordinator {tag}"), ("dsp", f"DSP {tag}"),
                       ("reviewer", f"Reviewer {tag}")):
        r = await api.post(f"/v1/directory/organisations/{org}/people", headers=mars, json={
            "name": name, "email": f"{role}.{tag}@cspr.test", "role": role})
        assert r.status_code == 201, r.text
        people[role] = name
        people[f"{role}_id"] = str(r.json()["id"])
    people["organisation"] = f"Police {tag}"
    return people


async def notify(coordinator: Browser, reference: str) -> str:
    r = await coordinator.submit("/notifications/new", notifying_agency="Humberside Police",
                                 incident__date=datetime.now(UTC).date(),
                                 incident__harm="serious_harm",
                                 incident__abuse_or_neglect="suspected",
                                 children__0__reference=reference)
    return r.headers["location"].rsplit("/", 1)[-1]


async def feed_of(browser: Browser) -> str:
    """The person's calendar feed, made on the Calendar feed page, as a calendar app reads it."""
    page = await browser.get("/calendar")
    csrf = dict(HIDDEN.findall(page))["csrf_token"]
    made = await browser.client.post("/calendar", data={"csrf_token": csrf})
    url = re.search(r"(http://[^\s\"<]+\.ics)", made.text)
    assert url, made.text[-1500:]
    feed = await browser.client.get(url.group(1).replace("http://cspr.test", ""))
    assert feed.status_code == 200
    return str(Calendar.from_ical(feed.content).to_ical().decode())


async def test_each_partnerships_people_see_and_reach_only_its_cases(
    api_app: FastAPI, api: AsyncClient,
) -> None:
    tag = uuid.uuid4().hex[:6]
    south = f"south-{tag}"
    ours = await directory_of(api, None, f"default-{tag}")
    theirs = await directory_of(api, south, f"south-{tag}")
    # The development sign-in lists both partnerships' people, each signing in as their own.
    async with http_client(api_app) as anonymous:
        listing = (await anonymous.get("/sign-in")).text
    assert ours["mars_team"] in listing
    assert theirs["mars_team"] in listing
    assert f"partnership {south}" in listing
    mine = await sign_in(api_app, ours["mars_team"])
    other = await sign_in(api_app, theirs["mars_team"])
    other_dsp = await sign_in(api_app, theirs["dsp"])
    try:
        # Each coordinator records a notification: the case is their partnership's.
        our_case = await notify(mine, f"NL-D{tag.upper()}")
        their_case = await notify(other, f"NL-S{tag.upper()}")
        assert (await api.get(f"/v1/cases/{their_case}", headers=as_("mars_team", south))
                ).status_code == 200
        assert (await api.get(f"/v1/cases/{their_case}")).status_code == 404

        for me, own, foreign, ref in ((mine, our_case, their_case, f"NL-S{tag.upper()}"),
                                      (other, their_case, our_case, f"NL-D{tag.upper()}")):
            # My work: their own case's steps, never the other's.
            work = await me.until("/work", f"/cases/{own}/steps/inform-partners")
            assert f"/cases/{foreign}" not in work
            # The case list and the search by the child's reference or the case id.
            # (By its child's reference: in a whole run the default partnership's list holds
            # other tests' cases, some received later, and this one may be on a later page.)
            own_ref = f"NL-D{tag.upper()}" if ref.startswith("NL-S") else f"NL-S{tag.upper()}"
            listed = await me.until(f"/cases?q={own_ref}", f'href="/cases/{own}"')
            assert f'href="/cases/{foreign}"' not in listed
            if me is other:  # its partnership's only case: on the whole list's first page
                listed = await me.until("/cases", f'href="/cases/{own}"')
                assert f'href="/cases/{foreign}"' not in listed
            assert f'href="/cases/{foreign}"' not in await me.get(f"/cases?q={ref}")
            found = await me.client.get(f"/cases?q={foreign}")
            assert found.status_code == 303
            # The other's case, its forms and its case file: not found, and nothing changes.
            for path in (f"/cases/{foreign}", f"/cases/{foreign}/steps/inform-partners",
                         f"/cases/{foreign}/case-file", f"/cases/{foreign}/meetings/new",
                         f"/cases/{foreign}/local-review/inform-panel"):
                page = await me.client.get(path)
                assert page.status_code == 404, (path, page.status_code)
                assert ref not in page.text  # as for a case that does not exist
            csrf = dict(HIDDEN.findall(work))["csrf_token"]
            for path in (f"/cases/{foreign}/steps/inform-partners",
                         f"/cases/{foreign}/reviewers"):
                posted = await me.client.post(path, data={"csrf_token": csrf,
                                                          "idempotency_key": uuid.uuid4().hex})
                assert posted.status_code == 404, (path, posted.status_code)
            # The Board's report and the calendar feed: their partnership's cases only.
            board = await me.get("/board")
            assert own in board
            assert foreign not in board
            feed = await feed_of(me)
            assert own in feed
            assert foreign not in feed
        # Neither case had its letters sent by the other partnership's posts.
        for case_id, partnership in ((our_case, None), (their_case, south)):
            read = (await api.get(f"/v1/cases/{case_id}",
                                  headers=as_("mars_team", partnership))).json()
            assert read["letters_in_flight"] == []
            assert all(s["status"] != "done" for s in read["steps"]
                       if s["step"] == "inform_partners")

        # The directory: each partnership's organisations only.
        assert theirs["organisation"] in await other.get("/directory")
        assert ours["organisation"] not in await other.get("/directory")
        assert ours["organisation"] in await mine.get("/directory")
        assert theirs["organisation"] not in await mine.get("/directory")
        # The reviewers offered on a case page are the partnership's; another's person cannot
        # be assigned by posting their id (not found, as through the API).
        shown = await other.get(f"/cases/{their_case}")
        assert theirs["reviewer"] in shown
        assert ours["reviewer"] not in shown
        csrf = dict(HIDDEN.findall(shown))["csrf_token"]
        refused = await other.client.post(f"/cases/{their_case}/reviewers", data={
            "csrf_token": csrf, "person_id": ours["reviewer_id"]})
        assert refused.status_code == 404
        assert "no such active person" in refused.text
        assert f"reviewer.default-{tag}" not in await other.get(f"/cases/{their_case}")
        assigned = await other.client.post(f"/cases/{their_case}/reviewers", data={
            "csrf_token": csrf, "person_id": theirs["reviewer_id"]})
        assert assigned.status_code == 303
        assert f"reviewer.south-{tag}@cspr.test, assigned" in await other.get(
            f"/cases/{their_case}")
        # A DSP of the other partnership reaches none of ours.
        assert f"/cases/{our_case}" not in await other_dsp.get("/work")
        assert (await other_dsp.client.get(f"/cases/{our_case}/steps/dsp-decision")
                ).status_code == 404
    finally:
        for b in (mine, other, other_dsp):
            await b.client.aclose()


def test_a_session_carries_its_partnership_and_an_old_one_is_the_defaults(
    api_app: FastAPI,
) -> None:
    settings = api_app.state.settings
    person = session.new_person("a@cspr.test", "A", Role.MARS_TEAM, None, "south-1")
    decoded = session.decode(settings, session.encode(settings, person))
    assert decoded is not None
    assert decoded.principal().partnership == "south-1"
    # A cookie sealed before tenants (no partnership) is the default partnership's.
    content = {k: v for k, v in asdict(person).items() if k != "partnership"}
    old = session.decode(settings, session.seal(settings, content))
    assert old is not None
    assert old.partnership == "default"
    # A forged partnership is no session (it is sealed, but checked all the same).
    assert session.decode(settings, session.seal(
        settings, {**content, "partnership": "Not A Name!"})) is None

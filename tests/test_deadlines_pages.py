"""`/v1/deadlines` in pages, from the store's table of the parts' deadlines (issue 13: "an
indexed query with pages, flat in the number of cases"). Through the real API on the dev server
and PostgreSQL; the table written by the parts' projection and filled by its migration."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from alembic import command
from httpx import AsyncClient
from sqlalchemy import select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from activities.case_store import PartProjectionInput, project, project_part
from api.routes.reports import MAX_DEADLINES
from domain.case import CaseState, Outcome, Stage
from domain.local_review import LocalReviewState
from domain.notification import Notification
from domain.procedure import CURRENT_PROCEDURE
from domain.reviews import LocalReviewInput, ReviewKind
from store import cases as store
from store import tenancy
from store.db import Sessionmaker, make_engine
from store.models import CasePart, PartDeadline
from store.part_deadlines import part_items
from tests.database import POSTGRES, alembic_config
from tests.test_tenants import as_, names, open_case

TODAY = datetime.now(UTC).date()


def a_case(case_id: str) -> CaseState:
    return CaseState.open_case(case_id, CURRENT_PROCEDURE, Notification.model_validate({
        "received_at": datetime.now(UTC), "notifying_agency": "Humberside Police",
        "incident": {"date": TODAY, "harm": "serious_harm", "abuse_or_neglect": "suspected"},
        "children": [{"reference": f"PAGES-{uuid.uuid4().hex[:8]}"}]}))


def review(case_id: str, decided: date, dated: int | None = None) -> dict[str, Any]:
    """An LCSPR's snapshot with its first `dated` tasks' dates set (all by default), the n-th
    due 30 n days after `decided`."""
    state = LocalReviewState.start(
        LocalReviewInput(case_id=case_id, kind=ReviewKind.SERIOUS_INCIDENT,
                         procedure_version=CURRENT_PROCEDURE.version, decided_on=decided),
        datetime.now(UTC))
    with_due = [t for t in state.tasks if t.due is not None]
    for n, task in enumerate(with_due[:dated], start=1):
        assert task.due is not None
        task.due.due_date = decided + timedelta(days=30 * n)
    return state.model_dump(mode="json")


def part(case_id: str, version: int, snapshot: dict[str, Any]) -> PartProjectionInput:
    return PartProjectionInput(case_id=case_id, part="local_review", version=version,
                               stage="terms_of_reference", overdue=False, next_deadline=None,
                               snapshot=snapshot, events=[])


async def test_the_deadlines_come_in_pages_soonest_first(api: AsyncClient) -> None:
    north, _ = names()
    for _ in range(3):
        await open_case(api, north)
    window = {"from": (TODAY - timedelta(days=30)).isoformat(),
              "to": (TODAY + timedelta(days=300)).isoformat()}
    mars = as_("mars_team", north)
    whole = (await api.get("/v1/deadlines", params=window, headers=mars)).json()
    assert len(whole) >= 9
    keys = [(d["due_date"], d["case_id"], d["part"], d["step"]) for d in whole]
    assert keys == sorted(keys)
    paged: list[dict[str, Any]] = []
    for offset in range(0, len(whole) + 4, 4):
        page = await api.get("/v1/deadlines", params={**window, "limit": 4, "offset": offset},
                             headers=mars)
        assert page.status_code == 200, page.text
        assert len(page.json()) <= 4
        paged += page.json()
    assert paged == whole
    # Past the last: an empty page.
    after = await api.get("/v1/deadlines", params={**window, "offset": len(whole)},
                          headers=mars)
    assert after.json() == []


async def test_a_page_out_of_bounds_is_refused_by_name(api: AsyncClient) -> None:
    window = {"from": TODAY.isoformat(), "to": TODAY.isoformat()}
    for params, field in (({"limit": 0}, "limit"), ({"limit": MAX_DEADLINES + 1}, "limit"),
                          ({"offset": -1}, "offset")):
        answer = await api.get("/v1/deadlines", params={**window, **params})
        assert answer.status_code == 422, answer.text
        assert field in answer.text
    spec = (await api.get("/openapi.json")).json()
    documented = {p["name"] for p in spec["paths"]["/v1/deadlines"]["get"]["parameters"]}
    assert {"from", "to", "limit", "offset"} <= documented


async def test_a_parts_deadlines_follow_its_projection_forward_only(
    sessions: Sessionmaker,
) -> None:
    case_id = f"CSPR-2026-P{uuid.uuid4().hex[:6].upper()}"
    decided = TODAY - timedelta(days=10)
    all_dated, one_dated = review(case_id, decided), review(case_id, decided, dated=1)

    async def rows() -> list[tuple[str, date]]:
        async with sessions() as s:
            found = await s.execute(select(PartDeadline.step, PartDeadline.due_date)
                                    .where(PartDeadline.case_id == case_id)
                                    .order_by(PartDeadline.due_date, PartDeadline.step))
            return [(r.step, r.due_date) for r in found]

    def expected(snapshot: dict[str, Any]) -> list[tuple[str, date]]:
        return sorted(((step, due) for step, due, _, _ in part_items("local_review", snapshot)),
                      key=lambda x: (x[1], x[0]))

    async with sessions.begin() as s:
        await project(s, a_case(case_id), 1)
        await project_part(s, part(case_id, 5, all_dated))
    assert await rows() == expected(all_dated)
    assert len(await rows()) == 2
    async with sessions.begin() as s:
        await project_part(s, part(case_id, 7, one_dated))
    assert await rows() == expected(one_dated)
    assert len(await rows()) == 1
    async with sessions.begin() as s:  # a stale projection changes nothing
        await project_part(s, part(case_id, 6, all_dated))
    assert await rows() == expected(one_dated)
    # The store's query lists them with the case's own steps, to the case's partnership only;
    # a closed case's, never.
    first_due = (await rows())[0][1]
    async with sessions() as s:
        listed = await store.deadlines(s, first_due, first_due, [case_id])
    assert [(r.part, r.step) for r in listed] == [("local_review", (await rows())[0][0])]
    north, south = names()
    async with sessions.begin() as s:
        await tenancy.assign(s, case_id, north)
    async with sessions() as s:
        assert await store.deadlines(s, first_due, first_due, [case_id]) == []
        assert await store.deadlines(s, first_due, first_due, None, south) == []
        listed = await store.deadlines(s, first_due, first_due, None, north)
    assert [(r.case_id, r.part) for r in listed] == [(case_id, "local_review")]
    closed = a_case(case_id)
    closed.stage, closed.outcome = Stage.CLOSED, Outcome.NO_FURTHER_REVIEW
    async with sessions.begin() as s:
        await project(s, closed, 9)
    async with sessions() as s:
        assert await store.deadlines(s, first_due, first_due, None, north) == []


async def test_the_migration_fills_the_table_from_the_stored_snapshots(
    sessions: Sessionmaker,
) -> None:
    """A store from before the table: its parts' deadlines are there after the upgrade."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        return  # the suite's SQLite fallback: one file, already at head
    url = os.environ.get("CSPR_TEST_DATABASE_URL", POSTGRES)
    schema = f"cspr_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'create schema "{schema}"'))
    engine = make_engine(url, schema=schema)

    def upgrade(to: str) -> Any:
        def run(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, to)
        return run

    case_id = f"CSPR-2026-M{uuid.uuid4().hex[:6].upper()}"
    snapshot = review(case_id, TODAY)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade("ops_partnerships"))
        async with engine.begin() as conn:
            s = AsyncSession(bind=conn)
            await project(s, a_case(case_id), 1)
            s.add(CasePart(case_id=case_id, part="local_review", stage="terms_of_reference",
                           overdue=False, next_deadline=None, version=3, snapshot=snapshot,
                           updated_at=datetime.now(UTC)))
            await s.flush()
        async with engine.begin() as conn:
            await conn.run_sync(upgrade("head"))
        async with engine.connect() as conn:
            found = (await conn.execute(select(PartDeadline.step, PartDeadline.due_date)
                                        .where(PartDeadline.case_id == case_id))).all()
        assert sorted(found) == sorted((step, due) for step, due, _, _
                                       in part_items("local_review", snapshot))
        assert found
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'drop schema "{schema}" cascade'))
        await admin.dispose()

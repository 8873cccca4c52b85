"""One list of everything due, whatever the part (issue 9's bugs: "`/v1/deadlines` and the case
lists' due filters leave out every LCSPR and action-plan deadline (the statutory 6-month
publication included)"): the deadlines' half. Through the real API, worker and case store."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.calendar import london_date
from store.part_deadlines import part_items
from tests.action_plans import start_plan
from tests.local_reviews import start_review
from tests.test_api import new_case


async def _published_due(api: AsyncClient, case_id: str) -> date:
    """The LCSPR's publication date, once the review has projected its dates to the store."""
    for _ in range(600):
        read = await api.get(f"/v1/cases/{case_id}/local-review")
        if read.status_code == 200 and read.json()["next_deadline"]:
            [task] = [t for t in read.json()["tasks"] if t["step"] == "published"]
            if task["due_date"]:
                return date.fromisoformat(task["due_date"])
        await asyncio.sleep(0.05)
    raise AssertionError("the local review never got its dates")


async def test_the_lcsprs_statutory_publication_is_in_the_deadlines_and_the_due_filter(
    api: AsyncClient, dev_env: WorkflowEnvironment, dev_worker: Worker,
) -> None:
    case_id = await new_case(api)
    decided = london_date(datetime.now(UTC)) - timedelta(days=10)
    await start_review(dev_env.client, dev_worker.task_queue, case_id, decided)
    published = await _published_due(api, case_id)
    # "completed and published within 6 calendar months of L" (Flowchart 3).
    assert published.month == (decided.month + 6 - 1) % 12 + 1
    # The review's read is its workflow's; the store's copy follows with its projection.
    for _ in range(600):
        response = await api.get("/v1/deadlines", params={
            "from": (published - timedelta(days=1)).isoformat(),
            "to": (published + timedelta(days=1)).isoformat()})
        assert response.status_code == 200, response.text
        mine: list[dict[str, Any]] = [d for d in response.json() if d["case_id"] == case_id]
        if mine:
            break
        await asyncio.sleep(0.05)
    assert {"part": "local_review", "step": "published", "due_date": published.isoformat(),
            "statutory": True, "status": "pending"}.items() <= mine[0].items()
    # A window with nothing of this case's in it.
    empty = await api.get("/v1/deadlines", params={
        "from": (published + timedelta(days=2)).isoformat(),
        "to": (published + timedelta(days=30)).isoformat()})
    assert case_id not in [d["case_id"] for d in empty.json()]
    # The case list's due filters see it too: every one of the case's own steps falls due long
    # before, so only the LCSPR's publication puts the case in the list.
    assert await _own_steps_due_before(api, case_id, published)
    assert case_id in await _listed(api, due_after=published)
    assert case_id in await _listed(api, due_after=published, due_before=published)
    assert case_id not in await _listed(api, due_after=published + timedelta(days=1))


async def _listed(api: AsyncClient, **due: date) -> list[str]:
    """The case ids GET /v1/cases lists with these due filters."""
    response = await api.get("/v1/cases", params={"limit": 200, **{
        k: v.isoformat() for k, v in due.items()}})
    assert response.status_code == 200, response.text
    return [c["case_id"] for c in response.json()["items"]]


async def _own_steps_due_before(api: AsyncClient, case_id: str, day: date) -> bool:
    """Every open step of the case's own is due before `day` (so a due filter from `day` on
    finds the case only through its parts)."""
    read = (await api.get(f"/v1/cases/{case_id}")).json()
    due = [date.fromisoformat(s["due_date"]) for s in read["steps"]
           if s["due_date"] and s["status"] in ("pending", "overdue")]
    return bool(due) and max(due) < day


async def test_an_action_plans_action_is_in_the_deadlines(
    api: AsyncClient, dev_env: WorkflowEnvironment, dev_worker: Worker,
) -> None:
    case_id = await new_case(api)
    await start_plan(dev_env.client, dev_worker.task_queue, case_id)
    due = london_date(datetime.now(UTC)) + timedelta(days=40)
    for _ in range(600):  # the plan opens asynchronously
        added = await api.post(f"/v1/cases/{case_id}/action-plan/add-action", json={
            "recommendation": 1, "what": "Joint training", "owner": "NHS Trust",
            "due_date": due.isoformat()})
        if added.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert added.status_code == 200, added.text
    for _ in range(600):  # and projects itself to the store after the record
        listed = (await api.get("/v1/deadlines", params={
            "from": due.isoformat(), "to": due.isoformat()})).json()
        mine = [d for d in listed if d["case_id"] == case_id]
        if mine:
            break
        await asyncio.sleep(0.05)
    assert [(d["part"], d["step"], d["statutory"]) for d in mine] == [
        ("action_plan", "action A1", False)]
    # And in the case list's due filters, the action's date alone bringing the case in.
    assert await _own_steps_due_before(api, case_id, due)
    assert case_id in await _listed(api, due_after=due)
    # (the plan's own review date comes later still: past the last, the case is not listed)
    last = max(date.fromisoformat(d["due_date"]) for d in (await api.get(
        "/v1/deadlines", params={"from": due.isoformat(), "limit": 2000,
                                 "to": (due + timedelta(days=366)).isoformat()})).json()
        if d["case_id"] == case_id)
    assert case_id in await _listed(api, due_after=last)
    assert case_id not in await _listed(api, due_after=last + timedelta(days=1))


def test_a_snapshot_not_written_or_not_readable_has_no_deadlines() -> None:
    """A part's placeholder row ({}) or a snapshot of a shape this version cannot read is left
    out of the list, never a 500."""
    assert list(part_items("local_review", {})) == []
    assert list(part_items("action_plan", {"case_id": "CSPR-2026-0001", "stage": 7})) == []

"""GET /v1/cases/{id} of a case the store holds as closed: read from the store, its workflow
not asked (issue 13: a query of a closed workflow replays its whole history; the stored record
is final, and rectified or anonymised there only). Through the real API, dev server and
PostgreSQL."""

from __future__ import annotations

from httpx import AsyncClient
from temporalio.testing import WorkflowEnvironment

from activities.case_store import project
from domain.case import CaseState, Outcome, Stage
from store.db import Sessionmaker
from store.models import Case
from tests.test_api import new_case


async def test_a_case_stored_as_closed_is_read_from_the_store(
    api: AsyncClient, dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    case_id = await new_case(api)
    live = await api.get(f"/v1/cases/{case_id}")
    assert (live.json()["stage"], live.json()["source"]) == ("notified", "store")
    # The store's copy closes (as the workflow's last projection would write it); the workflow
    # itself still runs and would answer "notified".
    async with sessions.begin() as s:
        row = await s.get(Case, case_id)
        assert row is not None
        closed = CaseState.model_validate(row.snapshot)
        closed.stage, closed.outcome = Stage.CLOSED, Outcome.NO_FURTHER_REVIEW
        await project(s, closed, row.version + 1000)
    handle = dev_env.client.get_workflow_handle(case_id)
    assert (await handle.query("case", result_type=CaseState)).stage is Stage.NOTIFIED
    read = await api.get(f"/v1/cases/{case_id}")
    assert read.status_code == 200, read.text
    assert (read.json()["stage"], read.json()["outcome"], read.json()["source"]) == (
        "closed", "no_further_review", "store")
    assert read.json()["steps"] == live.json()["steps"]
    await handle.terminate("test over")

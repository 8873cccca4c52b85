"""Record the action plan's workflow histories that tests/test_action_plan_replay.py guards (run
by hand, then commit the JSON).

    .venv/bin/python -m tests.histories.record_action_plan TAG

Files are `action_plan/<scenario>.run<N>.<TAG>.json`, one per run of the plan (it continues as
new), in a folder of their own beside the other workflows' histories. Record a new tag when the
ActionPlan workflow changes, and keep the old files: ap1 is the first ActionPlan; ap5 writes
its part to the case store by a local activity (patch "projection-local"). Payloads are
encrypted with the tests' fixed key.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.action_plan import ActionPlanState
from domain.calendar import WorkingDayCalendar, london_date
from domain.decisions import Actor
from infra.binaries import temporal_cli, temporal_test_server
from store.db import Sessionmaker, make_sessionmaker
from tests.action_plans import PARTNERS, Handle, message, plan_when, runs, signal, start_plan
from tests.conftest import CONVERTER, register_search_attributes
from tests.database import drop, test_database
from tests.local_reviews import store_case
from worker import build_worker
from workflows import search_attributes as sa

HERE = Path(__file__).parent / "action_plan"
Scenario = Callable[[WorkflowEnvironment, Handle, date], Awaitable[None]]
BOARD = Actor(subject="chair@cspr.test", role="board")
HEALTH_DSP = Actor(subject="dsp-health@cspr.test", role="dsp", organisation="health")


def dsp(partner: str) -> Actor:
    return Actor(subject=f"dsp-{partner}@cspr.test", role="dsp", organisation=partner)


async def overdue_action_reviews_and_sign_off(
    env: WorkflowEnvironment, handle: Handle, today: date
) -> None:
    """Signals over a year and a half: an action reminded and escalated, quarterly reviews,
    oversight passed, an audit, a refused sign-off and a refused signal, then the sign-off;
    the plan continues as new on the way (a run's history kept to 100 events)."""
    await signal(handle, "add_action", recommendation=1, what="Joint training",
                 owner="North Lincolnshire Council", due_date=today + timedelta(weeks=8))
    await signal(handle, "add_action", recommendation=2, what="Written referrals",
                 owner="NHS Trust", due_date=today + timedelta(weeks=60))
    await plan_when(handle, lambda p: len(p.actions) == 2)
    await env.sleep(timedelta(weeks=9))  # A1 reminded, then overdue
    await signal(handle, "complete_action", action_id="A1", evidence="Trained late")
    await signal(handle, "board_signoff", HEALTH_DSP, partner="health")  # refused: A2 is open
    await signal(handle, "board_signoff", actor=BOARD)  # refused: the board runs the plan
    await signal(handle, "plan_review", actor=HEALTH_DSP, progress="x")  # refused: the role
    for quarter in range(1, 6):
        plan = await plan_when(handle, lambda p: p.next_review.due_date is not None)
        assert plan.next_review.due_date is not None
        now = await env.get_current_time()
        due = plan.next_review.due_date
        await env.sleep(max(timedelta(0), (due - london_date(now)) - timedelta(days=1)))
        await signal(handle, "plan_review", actor=BOARD, progress=f"Quarter {quarter}")
        await plan_when(handle, lambda p, q=quarter: len(p.reviews) == q)  # type: ignore[misc]
        if quarter == 2:
            for partner in PARTNERS:  # each partner agrees for itself (since plan-partners)
                await signal(handle, "oversight_transfer", actor=dsp(partner),
                             to="safeguarding_partnership_meeting", partner=partner)
            await signal(handle, "scrutiny_audit", status="requested")
    await signal(handle, "scrutiny_audit", status="reported", findings="Embedded")
    await signal(handle, "complete_action", action_id="A2", evidence="Audit of referrals")
    await signal(handle, "board_signoff", HEALTH_DSP, partner="health")  # refused: equality
    await signal(handle, "no_equality_action", actor=BOARD, reason="None bears on inequality")
    for partner in PARTNERS:
        await signal(handle, "board_signoff", actor=dsp(partner), partner=partner)
    await handle.result()


async def updates_to_sign_off(_: WorkflowEnvironment, handle: Handle, today: date) -> None:
    """Updates, with refusals (which never enter history), to the Board's sign-off."""
    async def update(step: str, **fields: Any) -> None:
        try:
            await handle.execute_update("record", message(step, **fields),
                                        result_type=ActionPlanState)
        except WorkflowUpdateFailedError:
            pass

    due = today + timedelta(weeks=20)
    await update("add_action", recommendation=1, what="Training", owner="Council", due_date=due,
                 addresses_inequalities=True)
    await update("add_action", recommendation=2, what="Referrals", owner="Police", due_date=due)
    await update("change_action", action_id="A2", owner="NHS Trust", reason="Trust leads")
    await update("board_signoff")  # refused by the validator
    await update("board_signoff", partner="health")  # refused: actions open
    await update("complete_action", action_id="A1", evidence="Done")
    await update("close_action", action_id="A2", reason="Superseded")
    await update("plan_review", progress="All done", next_review_in_weeks=4)
    for partner in PARTNERS:  # each partner signs (since plan-partners)
        await update("board_signoff", partner=partner)
    await handle.result()


TIME_SKIPPING: dict[str, Scenario] = {
    "overdue_action_reviews_and_sign_off": overdue_action_reviews_and_sign_off,
}
DEV_SERVER: dict[str, Scenario] = {"updates_to_sign_off": updates_to_sign_off}


async def record(
    env: WorkflowEnvironment, scenarios: dict[str, Scenario], sessions: Sessionmaker, tag: str
) -> None:
    async with build_worker(env.client, f"record-{uuid.uuid4()}", WorkingDayCalendar(),
                            sessions) as worker:
        for name, scenario in scenarios.items():
            case_id = f"CSPR-2026-P{name[:7].upper()}"
            now = await env.get_current_time()
            await store_case(sessions, case_id, now)
            handle = await start_plan(env.client, worker.task_queue, case_id,
                                      history_per_run=100)
            first_run = handle.first_execution_run_id
            assert first_run is not None
            await plan_when(handle, lambda p: p.next_review.due_date is not None)
            await scenario(env, handle, london_date(now))
            await asyncio.sleep(0.5)
            for n, run_id in enumerate(await runs(env.client, handle.id, first_run), start=1):
                history = await env.client.get_workflow_handle(
                    handle.id, run_id=run_id).fetch_history()
                (HERE / f"{name}.run{n}.{tag}.json").write_text(
                    json.dumps(history.to_json_dict(), indent=1))


async def main(tag: str) -> None:
    HERE.mkdir(exist_ok=True)
    if any(HERE.glob(f"*.{tag}.json")):
        raise SystemExit(f"histories tagged {tag} exist: they guard old code; choose a new tag")
    with tempfile.TemporaryDirectory() as tmp:
        engine, schema, url = await test_database(Path(tmp))
        sessions = make_sessionmaker(engine)
        ts = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=temporal_test_server(), data_converter=CONVERTER)
        await register_search_attributes(ts.client)
        async with ts:
            await record(ts, TIME_SKIPPING, sessions, tag)
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=CONVERTER,
            search_attributes=sa.ALL) as dev:
            await record(dev, DEV_SERVER, sessions, tag)
        await drop(engine, schema, url)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

"""A partner system retrying a refused signal in a loop cannot push a case towards Temporal's
limits: the case continues as new with a bounded history and a bounded state, and afterwards
it works as before (a decision recorded, a reminder at its time e-mailed once, the case store's
trail numbered without a gap, its stored copy's version still increasing).

A real SMTP server in the test process and a case store of this module's own whose directory
lists the MARS team; timers on the time-skipping server.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.calendar import WorkingDayCalendar
from domain.case import CaseState, EventKind, Outcome, Stage, WithdrawalMessage
from domain.directory import OrganisationKind
from domain.permissions import Role
from domain.procedure import CURRENT_PROCEDURE, CURRENT_REQUEST_PROCEDURE, Partner, Step
from domain.reviews import LocalReviewResult
from domain.trail import EVENTS_KEPT
from infra.mailer import SmtpMailer
from store import directory
from store.db import Sessionmaker, make_sessionmaker
from store.models import AuditEvent, Case
from tests import database
from tests.conftest import CONVERTER, new_worker
from tests.factories import notification, review_request, signal
from tests.local_review_stand_in import LocalReviewStandIn, with_stand_in
from tests.scenarios import at_london, travel_to
from tests.smtp import Recorder
from worker import build_worker
from workflows import search_attributes as sa
from workflows.case_workflow import CaseResult
from workflows.ids import local_review_id
from workflows.review_request import RequestInput, ReviewRequestWorkflow
from workflows.serious_incident import CaseInput, SeriousIncidentWorkflow

Handle = WorkflowHandle[Any, Any]
S = TypeVar("S")
HISTORY_PER_RUN = 150
MARGIN = 60  # a run goes on to a quiet point past its threshold: the handlers then running
MARS = "mars@cspr.test"


@pytest.fixture(scope="module")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sessionmaker]:
    engine, schema, url = await database.test_database(Path(tmp_path_factory.mktemp("can")))
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        org = await directory.add_organisation(session, "Partner local_authority",
                                               OrganisationKind.PARTNER, Partner.LOCAL_AUTHORITY)
        await directory.add_person(session, org.id, "MARS", MARS, Role.MARS_TEAM)
    yield sessions
    await database.drop(engine, schema, url)


async def case_when(handle: Handle, ready: Callable[[CaseState], bool],
                    within: float = 30.0) -> CaseState:
    """Query the case until `ready` holds. A query that reaches the time-skipping server just
    as the run continues as new can go unanswered (seen about one run in five): asked again
    after a short wait rather than the default minute."""
    return await query_until(handle, "case", CaseState, ready, within)


async def query_until(handle: Handle, query: str, result_type: type[S], ready: Callable[[S], bool],
                      within: float) -> S:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            answer: S = await handle.query(query, result_type=result_type,
                                           rpc_timeout=timedelta(seconds=3))
        except RPCError as e:
            if e.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise
        else:
            if ready(answer):
                return answer
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("never became ready")
        await asyncio.sleep(0.05)


async def trail_reaches(sessions: Sessionmaker, case_id: str, part: str, count: int,
                        within: float = 60.0) -> None:
    """Wait until the case store's trail of a part has `count` events."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with sessions() as s:
            found = len(list(await s.scalars(select(AuditEvent.sequence).where(
                AuditEvent.case_id == case_id, AuditEvent.part == part))))
        if found >= count:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the trail has {found} events, not {count}")
        await asyncio.sleep(0.05)


async def settled_runs(client: Client, workflow_id: str, first_run: str, longest: int,
                       within: float = 30.0) -> list[tuple[int, int]]:
    """The runs once the latest is under `longest` events (it continues as new at its next
    quiet point once past its threshold)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await runs(client, workflow_id, first_run)
        if found[-1][0] <= longest or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def runs(client: Client, case_id: str, first_run: str) -> list[tuple[int, int]]:
    """Each run of the case, oldest first: (its history's length, its input's bytes)."""
    found: list[tuple[int, int]] = []
    run_id: str | None = first_run
    while run_id:
        history = await client.get_workflow_handle(case_id, run_id=run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        found.append((len(history.events), sum(len(p.data) for p in started.input.payloads)))
        last = history.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.event_type is EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
                  else None)
    return found


async def replay_runs(client: Client, workflow_id: str, first_run: str,
                      workflow: type) -> set[str]:
    """Replay each run of a workflow, oldest first, on this code; the patch ids they mark."""
    replayer = Replayer(workflows=[workflow], data_converter=CONVERTER)
    run_id: str | None = first_run
    markers: set[str] = set()
    while run_id:
        h = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        assert (await replayer.replay_workflow(h)).replay_failure is None
        markers |= {json.loads(p.data)["id"]
                    for e in h.events if e.HasField("marker_recorded_event_attributes")
                    for p in e.marker_recorded_event_attributes.details["patch-data"].payloads}
        last = h.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.HasField("workflow_execution_continued_as_new_event_attributes")
                  else None)
    return markers


async def signal_through(handle: Handle, step: str, **fields: Any) -> None:
    """A signal, sent again (as a partner system would) if it met the run closing on its
    continue-as-new: the time-skipping server answers "Completed workflow" for that instant,
    where a real server hands the signal to the next run."""
    for attempt in range(20):
        try:
            await signal(handle, step, **fields)
            return
        except RPCError as e:
            if e.status is not RPCStatusCode.NOT_FOUND or attempt == 19:
                raise
            await asyncio.sleep(0.1)


async def stored(sessions: Sessionmaker, case_id: str) -> tuple[int, list[int]]:
    """The stored copy's version, and its audit trail's numbers (once the case is stored)."""
    for _ in range(200):
        async with sessions() as s:
            if await s.get(Case, case_id) is not None:
                break
        await asyncio.sleep(0.05)
    async with sessions() as s:
        row = await s.get(Case, case_id)
        assert row is not None
        trail = list(await s.scalars(select(AuditEvent.sequence).where(
            AuditEvent.case_id == case_id, AuditEvent.part == "case")
            .order_by(AuditEvent.sequence)))
        return row.version, trail


async def test_a_refused_signal_in_a_loop_continues_the_case_as_new(
    time_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    recorder, mailer = smtp
    client = time_env.client
    async with build_worker(client, f"tq-{uuid.uuid4()}", WorkingDayCalendar(), store,
                            mailer=mailer) as worker:
        now = await time_env.get_current_time()
        monday = (now + timedelta(days=14 - now.weekday())).date()
        while not all(WorkingDayCalendar().is_working_day(monday + timedelta(days=d))
                      for d in range(3)):
            monday += timedelta(days=7)
        await travel_to(time_env, at_london(monday, 10))
        case_id = f"CSPR-2026-CN{uuid.uuid4().hex[:4]}"
        handle: Handle = await client.start_workflow(
            SeriousIncidentWorkflow.run,
            CaseInput(case_id=case_id, procedure_version=CURRENT_PROCEDURE.version,
                      notification=notification(await time_env.get_current_time()),
                      history_per_run=HISTORY_PER_RUN),
            id=case_id, task_queue=worker.task_queue,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa.CASE_ID, case_id),
                SearchAttributePair(sa.PARTNERSHIP, "north-lincolnshire")]))
        first_run = handle.first_execution_run_id or handle.result_run_id
        assert first_run is not None
        opened = await case_when(handle, lambda c: c.clock_dates != {})
        version_at_start, _ = await stored(store, case_id)

        # A partner system retries a record the case refuses (the Panel's response, long
        # before it is due), 300 times, ten at a time as fast as it can. (A sender faster than
        # the case takes signals holds a continue-as-new off: the server refuses it while
        # signals wait, so the run goes on to a gap.)
        # Progress is read from the case store, not by queries: the time-skipping server can
        # lose a query that meets a continue-as-new, and then stall.
        for n in range(1, 301):
            await signal_through(handle, "panel_response", decision="no_national_review")
            if n % 10 == 0:
                await trail_reaches(store, case_id, "case", opened.event_count + n)
        history = await settled_runs(client, case_id, first_run, HISTORY_PER_RUN + MARGIN)
        case = await case_when(handle, lambda c: c.event_count >= opened.event_count + 300)
        # The latest events, and those of this run (each refusal adds several history events).
        assert len(case.events) <= EVENTS_KEPT + HISTORY_PER_RUN // 3
        assert case.events_before > 200

        print("history events and input bytes per run:", history)  # noqa: T201
        assert len(history) >= 4
        assert all(length <= HISTORY_PER_RUN + MARGIN for length, _ in history)
        carried = [size for _, size in history[1:]]
        assert max(carried) < 2 * min(carried)  # bounded: not growing with the rejections
        described = await handle.describe()
        assert described.typed_search_attributes.get(sa.PARTNERSHIP) == "north-lincolnshire"

        # The case still works: inform_partners (due Tuesday) is reminded at 09:00 on the day,
        # by e-mail once; a record moves it on.
        await travel_to(time_env, at_london(monday + timedelta(days=1), 9, 30))
        case = await case_when(handle, lambda c: any(
            e.kind is EventKind.REMINDER for e in c.events))
        reminder = next(e for e in case.events if e.kind is EventKind.REMINDER)
        assert reminder.step is Step.INFORM_PARTNERS
        assert reminder.at.replace(second=0, microsecond=0) == at_london(
            monday + timedelta(days=1), 9)
        await signal(handle, "inform_partners")
        case = await case_when(handle, lambda c: c.stage is Stage.SSL_RECOMMENDATION)

        for _ in range(100):  # a signal's events reach the store with the next projection
            version, trail = await stored(store, case_id)
            if len(trail) >= case.event_count:
                break
            await asyncio.sleep(0.05)
        assert trail == list(range(1, case.event_count + 1))  # no gap, no repeat
        # Each run's projections went on from the run before's versions (the store refuses a
        # lower one): the stored copy has the latest stage.
        assert version > version_at_start
        async with store() as s:
            row = await s.get(Case, case_id)
            assert row is not None
            assert row.stage == case.stage.value == "ssl_recommendation"
        reminders = [m for m in recorder.messages if "reminder" in m["Subject"].lower()]
        assert len(reminders) == 1
        await handle.terminate("test over")

    # Every run replays on this code, and each took the patches ("quiet-rejections",
    # "case-continue-as-new" among them) with the one marker of a run started on code that has
    # them all ("case-patches-1"; their own markers in the can1 history, tests/test_replay.py).
    markers = await replay_runs(client, case_id, first_run, SeriousIncidentWorkflow)
    assert "case-patches-1" in markers


async def request_with_its_lcspr_continued(env: WorkflowEnvironment, task_queue: str) -> tuple[
        str, Handle]:
    """A request the partners agreed to, whose case has continued as new while its LCSPR runs
    (a partner system retrying a record already made); the LCSPR's handle."""
    cid = f"CSPR-2026-CL{uuid.uuid4().hex[:6].upper()}"
    handle = await env.client.start_workflow(
        ReviewRequestWorkflow.run,
        RequestInput(case_id=cid, procedure_version=CURRENT_REQUEST_PROCEDURE.version,
                     request=review_request(await env.get_current_time()), history_per_run=100),
        id=cid, task_queue=task_queue)
    await case_when(handle, lambda c: bool(c.clock_dates))
    await signal(handle, "inform_partners")
    await signal(handle, "ssl_recommendation", criteria_met=True, rationale="Near miss")
    for partner in ("local_authority", "health", "police"):
        await signal(handle, "dsp_decision", partner=partner, criteria_met=True,
                     rationale="Agreed")
    await case_when(handle, lambda c: any(e.kind is EventKind.LOCAL_REVIEW_STARTED
                                          for e in c.events))
    latest = env.client.get_workflow_handle(cid)
    for n in range(1, 201):
        await signal(latest, "inform_partners")  # done already: refused
        if n % 10 == 0:
            await case_when(latest, has_rejected(n), within=60)
        if (await latest.describe()).run_id != handle.first_execution_run_id:
            break
    assert (await latest.describe()).run_id != handle.first_execution_run_id
    child = env.client.get_workflow_handle(local_review_id(cid))
    assert (await child.describe()).status is WorkflowExecutionStatus.RUNNING
    return cid, child


def has_rejected(n: int) -> Callable[[CaseState], bool]:
    return lambda c: c.events_before + sum(
        1 for e in c.events if e.kind is EventKind.SIGNAL_REJECTED) >= n


async def test_a_case_continued_as_new_still_closes_when_its_lcspr_ends(
    dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """On the dev server, which applies parent-close policies: the continue-as-new does not
    cancel the LCSPR (ABANDON), and the new run records its end from its signal."""
    async with new_worker(dev_env.client, sessions, workflows=with_stand_in()) as worker:
        cid, child = await request_with_its_lcspr_continued(dev_env, worker.task_queue)
        result = LocalReviewResult(case_id=cid, published=True, action_plan_signed_off_on=None)
        await child.signal(LocalReviewStandIn.finish, result)
        latest = dev_env.client.get_workflow_handle(cid, result_type=CaseResult)
        assert await latest.result() == CaseResult(case_id=cid, outcome=Outcome.LOCAL_REVIEW,
                                                   local_review=result)
        case = await latest.query("case", result_type=CaseState)
        assert case.stage is Stage.CLOSED
        assert [e.detail for e in case.events
                if e.kind is EventKind.LOCAL_REVIEW_ENDED] == ["completed"]


async def test_a_case_continued_as_new_withdrawn_ends_its_lcspr(
    dev_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """The withdrawal reaches the LCSPR a run before started by its id, and waits for its
    end."""
    async with new_worker(dev_env.client, sessions, workflows=with_stand_in()) as worker:
        cid, child = await request_with_its_lcspr_continued(dev_env, worker.task_queue)
        latest = dev_env.client.get_workflow_handle(cid)
        case = await latest.execute_update("withdraw", WithdrawalMessage.model_validate(
            {"withdrawal": {"reason": "Entered twice by mistake"},
             "actor": {"subject": "mars@cspr.test", "role": "mars_team"}}),
            result_type=CaseState)
        assert case.outcome is Outcome.WITHDRAWN
        assert [e.detail for e in case.events
                if e.kind is EventKind.LOCAL_REVIEW_ENDED] == ["withdrawn"]
        assert (await child.describe()).status is WorkflowExecutionStatus.COMPLETED
        await latest.result()

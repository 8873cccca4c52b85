"""A record is checked only against a case whose last change has fully taken effect
(workflows.serial), on the dev server with a real case store and SMTP server.

The window the fault run found: the third DSP decision applied, its clock D due dates not yet
counted (the calendar activity held here by a gate, as a worker crash held it), and in that
window the agencies' letters asked for. They must wait for the decision's full effect and go.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.calendar import CalendarActivities, DueDatesInput, DueDatesResult
from activities.case_events import record_case_event
from activities.case_store import CaseStoreActivities
from activities.mail import MailActivities, MailConfig
from domain.calendar import WorkingDayCalendar
from domain.case import CaseState, EventKind, Stage
from domain.decisions import Actor, DspDecision
from domain.procedure import Clock, Partner, Step
from infra.mailer import SmtpMailer
from store.db import Sessionmaker
from tests.factories import case_when, decision, start_case
from tests.mail_directory import AGENCY, directory_store
from tests.smtp import Recorder
from worker import WORKFLOW_RUNNER, WORKFLOWS
from workflows.serious_incident import SeriousIncidentWorkflow

MARS = Actor(subject="mars@cspr.test", role="mars_team")
Handle = WorkflowHandle[SeriousIncidentWorkflow, Any]


@pytest.fixture(scope="module")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sessionmaker]:
    async with directory_store(tmp_path_factory.mktemp("serial")) as sessions:
        yield sessions


class HeldCalendar(CalendarActivities):
    """The calendar activities, with clock D's due dates held until the test lets them go."""

    def __init__(self, sessions: Sessionmaker) -> None:
        super().__init__(WorkingDayCalendar(), sessions)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    @activity.defn(name="compute_due_dates")
    async def compute_due_dates(self, input: DueDatesInput) -> DueDatesResult:
        if input.clock is Clock.RAPID_REVIEW_DECISION:
            self.entered.set()
            await self.release.wait()
        return await super().compute_due_dates(input)


def held_worker(client: Any, store: Sessionmaker, mailer: SmtpMailer,
                calendar: HeldCalendar) -> Worker:
    cases = CaseStoreActivities(store)
    mail = MailActivities(store, mailer, MailConfig())
    return Worker(client, task_queue=f"tq-{uuid.uuid4()}", workflows=list(WORKFLOWS),
                  workflow_runner=WORKFLOW_RUNNER,
                  activities=[calendar.compute_clocks_due_dates,
                              calendar.compute_due_dates, calendar.compute_dates,
                              record_case_event, cases.project_case, cases.project_part,
                              mail.send_letters, mail.send_alert_mail])


async def record(handle: Handle, step: str, **fields: Any) -> CaseState:
    result: CaseState = await handle.execute_update(
        "record", decision(step, MARS, **fields), result_type=CaseState)
    return result


async def test_letters_asked_for_while_a_decision_takes_effect_wait_for_it_and_go(
    dev_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    recorder, mailer = smtp
    calendar = HeldCalendar(store)
    async with held_worker(dev_env.client, store, mailer, calendar) as worker:
        now = await dev_env.get_current_time()
        handle: Handle = await start_case(dev_env.client, worker.task_queue,
                                          f"CSPR-2026-SE{uuid.uuid4().hex[:4]}", now)
        await case_when(handle, lambda c: c.clock_dates != {})
        await record(handle, "inform_partners")
        await record(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Met")
        for partner in (Partner.LOCAL_AUTHORITY, Partner.HEALTH):
            await record(handle, "dsp_decision", partner=partner.value, criteria_met=True,
                         rationale="Met")

        # The third decision: applied, its clock D dates held back.
        third = asyncio.create_task(record(handle, "dsp_decision", partner="police",
                                           criteria_met=True, rationale="Met"))
        await asyncio.wait_for(calendar.entered.wait(), 30)
        letters = asyncio.create_task(handle.execute_update(
            "send_letters", decision("agency_requests", MARS, agencies=[AGENCY]),
            result_type=CaseState))
        # A record the half-done case would take, but the finished one refuses: the police
        # have decided. Refused once the decision has taken effect, as the API maps it (409).
        again = asyncio.create_task(record(handle, "dsp_decision", partner="police",
                                           criteria_met=False, rationale="Changed"))
        # A message of the wrong shape is refused at once, before it enters history.
        with pytest.raises(WorkflowUpdateFailedError) as wrong:
            await handle.execute_update(
                "send_letters", decision("ssl_recommendation", MARS, criteria_met=True,
                                         recommend_panel_notification=True, rationale="x"),
                result_type=CaseState)
        assert isinstance(wrong.value.cause, ApplicationError)
        assert wrong.value.cause.type == "InvalidRecord"
        await asyncio.sleep(1.0)
        assert not letters.done()  # waiting for its turn
        assert not again.done()

        calendar.release.set()
        decided = await asyncio.wait_for(third, 30)
        assert Clock.RAPID_REVIEW_DECISION in decided.clock_dates
        requested = await asyncio.wait_for(letters, 30)
        # Asked for on the case as the decision left it: clock D counted, its dates set.
        assert Clock.RAPID_REVIEW_DECISION in requested.clock_dates
        assert requested.step(Step.AGENCY_REPORTS).due_date is not None
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(again, 30)
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "StepNotOpen"

        case = await case_when(handle, lambda c: c.step(Step.AGENCY_REQUESTS).completion
                               is not None)
        assert case.stage is Stage.RAPID_REVIEW
        assert [e.detail for e in case.events if e.kind is EventKind.MAIL_FAILED] == []
        assert any(m["To"].addresses[0].addr_spec == "agency@cspr.test"
                   for m in recorder.messages)
        votes = [r.criteria_met for r in case.records
                 if isinstance(r, DspDecision) and r.partner is Partner.POLICE]
        assert votes == [True]  # the refused second vote changed nothing
        await handle.terminate("test over")


async def test_a_new_case_marks_the_serial_patch(
    dev_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """New cases run serialised from their first command (the patch marker is in history:
    "case-patches-1", which takes "serial-changes" with every other patch of a new run)."""
    _, mailer = smtp
    async with held_worker(dev_env.client, store, mailer, HeldCalendar(store)) as worker:
        now = await dev_env.get_current_time()
        handle: Handle = await start_case(dev_env.client, worker.task_queue,
                                          f"CSPR-2026-SP{uuid.uuid4().hex[:4]}", now)
        await case_when(handle, lambda c: c.clock_dates != {}, within=30)
        history = await handle.fetch_history()
        markers = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
        assert any(b"case-patches-1" in p.data for e in markers
                   for p in e.marker_recorded_event_attributes.details["patch-data"].payloads)
        await handle.terminate("test over")

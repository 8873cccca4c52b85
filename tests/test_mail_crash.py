"""Letters whose worker dies mid-attempt go on within seconds (issue 11, item 6), on the dev
server: the attempt's heartbeat stops, Temporal times it out at HEARTBEAT_TIMEOUT and the
retry policy tries again five seconds later (before: a 10-minute timeout and a 2-minute wait).

The dead worker is a stand-in for the activity's first attempt that never answers and never
heartbeats (as a SIGKILLed process does); the second attempt is the real activity.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from activities.case_events import record_case_event
from activities.case_store import CaseStoreActivities
from activities.mail import (
    HEARTBEAT_TIMEOUT,
    MailActivities,
    MailConfig,
    SendLettersInput,
    SendLettersResult,
    relay_delay,
)
from domain.calendar import WorkingDayCalendar
from domain.case import CaseState, EventKind, Stage
from domain.decisions import Actor
from domain.procedure import Step
from infra.mailer import SmtpMailer
from store.db import Sessionmaker
from tests.factories import case_when, decision, start_case
from tests.mail_directory import directory_store
from tests.smtp import Recorder
from worker import WORKFLOW_RUNNER, WORKFLOWS
from workflows.serious_incident import SeriousIncidentWorkflow

MARS = Actor(subject="mars@cspr.test", role="mars_team")
Handle = WorkflowHandle[SeriousIncidentWorkflow, Any]


@pytest.fixture(scope="module")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sessionmaker]:
    async with directory_store(tmp_path_factory.mktemp("crash")) as sessions:
        yield sessions


class DiesOnFirstAttempt(MailActivities):
    """The first attempt hangs without a heartbeat, as on a worker that has been killed."""

    @activity.defn(name="send_letters")
    async def send_letters(self, input: SendLettersInput) -> SendLettersResult:
        if activity.info().attempt == 1:
            await asyncio.Event().wait()  # cancelled when the test's worker shuts down
        return await super().send_letters(input)


async def test_letters_interrupted_by_a_dead_worker_go_within_seconds(
    dev_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    recorder, mailer = smtp
    calendar = CalendarActivities(WorkingDayCalendar(), store)
    cases = CaseStoreActivities(store)
    mail = DiesOnFirstAttempt(store, mailer, MailConfig())
    async with Worker(dev_env.client, task_queue=f"tq-{uuid.uuid4()}", workflows=list(WORKFLOWS),
                      workflow_runner=WORKFLOW_RUNNER,
                      activities=[calendar.compute_clocks_due_dates,
                                  calendar.compute_due_dates, calendar.compute_dates,
                                  record_case_event, cases.project_case, cases.project_part,
                                  mail.send_letters, mail.send_alert_mail],
                      graceful_shutdown_timeout=timedelta(seconds=1)) as worker:
        now = await dev_env.get_current_time()
        handle: Handle = await start_case(dev_env.client, worker.task_queue,
                                          f"CSPR-2026-CR{uuid.uuid4().hex[:4]}", now)
        await case_when(handle, lambda c: c.clock_dates != {})
        loop = asyncio.get_running_loop()
        asked = loop.time()
        await handle.execute_update("send_letters", decision("inform_partners", MARS),
                                    result_type=CaseState)
        case = await case_when(handle, lambda c: c.stage is Stage.SSL_RECOMMENDATION,
                               within=90)
        took = loop.time() - asked
        # The heartbeat timeout and the first retry's five seconds, with room for a busy
        # machine: far from the quarter of an hour it took before.
        assert took < HEARTBEAT_TIMEOUT.total_seconds() + 40, took
        assert len(recorder.messages) == 6  # every DSP and SSL, once
        assert [e.detail for e in case.events if e.kind is EventKind.LETTERS_SENT] == [
            "6 sent of 6"]
        assert case.step(Step.INFORM_PARTNERS).completion is not None

        history = await handle.fetch_history()
        scheduled = [e.activity_task_scheduled_event_attributes for e in history.events
                     if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                     and e.activity_task_scheduled_event_attributes.activity_type.name
                     == "send_letters"]
        assert scheduled[0].heartbeat_timeout.ToTimedelta() == HEARTBEAT_TIMEOUT
        assert scheduled[0].retry_policy.initial_interval.ToTimedelta() == timedelta(seconds=5)
        await handle.terminate("test over")


def test_a_relay_that_is_away_is_given_minutes_not_seconds() -> None:
    """The five-second retry is for a lost worker; MailUnavailable asks for 2, 4, 8... min."""
    assert [relay_delay(a) for a in (1, 2, 3)] == [timedelta(minutes=m) for m in (2, 4, 8)]
    assert relay_delay(10) == timedelta(minutes=30)

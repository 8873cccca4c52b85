"""Run the cspr worker: the case workflows and their activities on one task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from activities.case_events import record_case_event
from activities.case_store import CaseStoreActivities
from activities.mail import MailActivities, MailConfig
from domain.calendar import WorkingDayCalendar
from infra.mailer import Mailer, SmtpConfig, SmtpMailer
from infra.settings import Settings
from infra.temporal import connect
from store.db import Sessionmaker, make_engine, make_sessionmaker
from workflows.action_plan import ActionPlanWorkflow
from workflows.local_review import LocalReviewWorkflow
from workflows.review_request import ReviewRequestWorkflow
from workflows.serious_incident import SeriousIncidentWorkflow

WORKFLOWS: Sequence[type] = (SeriousIncidentWorkflow, LocalReviewWorkflow, ActionPlanWorkflow,
                             ReviewRequestWorkflow)


def build_worker(
    client: Client, task_queue: str, calendar: WorkingDayCalendar, sessions: Sessionmaker,
    workflows: Sequence[type] = WORKFLOWS, mailer: Mailer | None = None,
    mail: MailConfig | None = None,
) -> Worker:
    """The worker; tests may run other workflows (a stand-in child) with the same activities,
    and pass their own mailer (by default, SMTP to `make run`'s mail catcher)."""
    calendar_activities = CalendarActivities(calendar, sessions)
    store_activities = CaseStoreActivities(sessions)
    mail_activities = MailActivities(sessions, mailer or SmtpMailer(SmtpConfig()),
                                     mail or MailConfig())
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=[calendar_activities.compute_due_dates, calendar_activities.compute_dates,
                    record_case_event,
                    store_activities.project_case, store_activities.project_part,
                    mail_activities.send_letters, mail_activities.send_alert_mail,
                    mail_activities.resolve_mail, mail_activities.deliver_mail],
        # On shutdown, running activities get this long to finish before they are cancelled.
        graceful_shutdown_timeout=timedelta(seconds=30),
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log = logging.getLogger("cspr.worker")
    settings = Settings()
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    mailer = SmtpMailer(SmtpConfig.from_settings(settings))
    async with build_worker(client, settings.task_queue, WorkingDayCalendar(), sessions,
                            mailer=mailer, mail=MailConfig.from_settings(settings)):
        log.info("worker polling task queue %s", settings.task_queue)
        await stop.wait()
        # Leaving the block shuts the worker down gracefully: running activities finish.
        log.info("worker stopping")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())

"""Run the cspr worker: the case workflows and their activities on one task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from datetime import timedelta

from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.worker import Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.calendar import CalendarActivities
from activities.case_events import record_case_event
from activities.case_store import CaseStoreActivities, ProjectionCounts
from activities.mail import MailActivities, MailConfig
from activities.retention import RetentionActivities
from domain.calendar import WorkingDayCalendar
from domain.retention import DEFAULT_SCHEDULE, RetentionSchedule
from infra import logs, tracing
from infra.mailer import Mailer, SmtpConfig, SmtpMailer
from infra.metrics import StoreMetrics
from infra.schedules import ensure_retention_schedule
from infra.settings import Settings
from infra.temporal import check_namespace_retention, connect, worker_runtime
from store.db import Sessionmaker, make_engine, make_sessionmaker
from workflows.action_plan import ActionPlanWorkflow
from workflows.closed_mail import ClosedCaseMailWorkflow
from workflows.local_review import LocalReviewWorkflow
from workflows.retention import RetentionWorkflow
from workflows.review_request import ReviewRequestWorkflow
from workflows.serious_incident import SeriousIncidentWorkflow

WORKFLOWS: Sequence[type] = (SeriousIncidentWorkflow, LocalReviewWorkflow, ActionPlanWorkflow,
                             ReviewRequestWorkflow, RetentionWorkflow, ClosedCaseMailWorkflow)

# Passed through the workflow sandbox: imported once per worker, not once per workflow run, and
# shared by every run the worker caches (issue 13: the sandbox's re-imports were 40 % of the
# worker's CPU; README, Performance (f)). Each is deterministic and side-effect free: no clock,
# randomness or I/O at import or in what a workflow calls, no module state a workflow changes.
# The sandbox's checks no longer see into these modules' code, so tests/test_replay.py also
# replays every history in the strict sandbox (STRICT_RUNNER), where those checks still apply.
PASSED_THROUGH = ("domain", "activities", "workflows")
WORKFLOW_RUNNER: WorkflowRunner = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))
STRICT_RUNNER: WorkflowRunner = SandboxedWorkflowRunner()  # the SDK's default sandbox
# Runs a worker keeps in memory between workflow tasks (the SDK's default is 1,000): one not
# kept is replayed from its history at its next task (CSPR_WORKER_MAX_CACHED_WORKFLOWS).
MAX_CACHED_WORKFLOWS = Settings.model_fields["worker_max_cached_workflows"].default


def build_worker(
    client: Client, task_queue: str, calendar: WorkingDayCalendar, sessions: Sessionmaker,
    workflows: Sequence[type] = WORKFLOWS, mailer: Mailer | None = None,
    mail: MailConfig | None = None, retention: RetentionSchedule = DEFAULT_SCHEDULE,
    projections: ProjectionCounts | None = None,
    workflow_runner: WorkflowRunner = WORKFLOW_RUNNER,
    max_cached_workflows: int = MAX_CACHED_WORKFLOWS,
) -> Worker:
    """The worker; tests may run other workflows (a stand-in child) with the same activities,
    and pass their own mailer (by default, SMTP to `make run`'s mail catcher). `projections`
    counts the case store's projection failures (exported by `serve_store_metrics`)."""
    calendar_activities = CalendarActivities(calendar, sessions)
    store_activities = CaseStoreActivities(sessions, projections)
    retention_activities = RetentionActivities(sessions, retention)
    mail_activities = MailActivities(sessions, mailer or SmtpMailer(SmtpConfig()),
                                     mail or MailConfig())
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        workflow_runner=workflow_runner,
        max_cached_workflows=max_cached_workflows,
        activities=[calendar_activities.compute_due_dates, calendar_activities.compute_dates,
                    calendar_activities.compute_clocks_due_dates,
                    record_case_event,
                    store_activities.project_case, store_activities.project_part,
                    mail_activities.send_letters, mail_activities.send_alert_mail,
                    mail_activities.send_review_letter,
                    retention_activities.apply_retention,
                    mail_activities.resolve_mail, mail_activities.deliver_mail,
                    mail_activities.audit_mail],
        # On shutdown, running activities get this long to finish before they are cancelled.
        graceful_shutdown_timeout=timedelta(seconds=30),
    )


async def main(workflow_runner: WorkflowRunner = WORKFLOW_RUNNER) -> None:
    """The worker until SIGINT or SIGTERM; `workflow_runner` for a benchmark's comparison."""
    settings = Settings()
    logs.configure(settings.log_level)
    log = logging.getLogger("cspr.worker")
    tracer = tracing.provider_from(settings, "cspr-worker")
    client = await connect(settings, runtime=worker_runtime(settings),
                           interceptors=tracing.temporal_interceptors(tracer))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine = make_engine(settings.database_url)
    tracing.instrument_engine(engine, tracer)
    sessions = make_sessionmaker(engine)
    mailer = SmtpMailer(SmtpConfig.from_settings(settings))
    projections = ProjectionCounts()
    counting = serve_store_metrics(settings, sessions, projections)
    await ensure_retention_schedule(client, settings.task_queue)
    await check_namespace_retention(client, settings.temporal_retention_days)
    async with build_worker(client, settings.task_queue, WorkingDayCalendar(), sessions,
                            mailer=mailer, mail=MailConfig.from_settings(settings),
                            retention=settings.retention, projections=projections,
                            workflow_runner=workflow_runner,
                            max_cached_workflows=settings.worker_max_cached_workflows):
        log.info("worker polling task queue %s", settings.task_queue)
        await stop.wait()
        # Leaving the block shuts the worker down gracefully: running activities finish.
        log.info("worker stopping")
    if counting is not None:
        counting.cancel()
    await engine.dispose()
    if tracer is not None:
        tracer.shutdown()  # sends the spans still held


def serve_store_metrics(
    settings: Settings, sessions: Sessionmaker, projections: ProjectionCounts | None = None,
) -> asyncio.Task[None] | None:
    """The case store's gauges (infra.metrics) and this worker's projection failures on
    CSPR_WORKER_METRICS_PORT, if set."""
    if not settings.worker_metrics_port:
        return None
    metrics = StoreMetrics(sessions, projections=projections)
    start_http_server(settings.worker_metrics_port, settings.metrics_host, metrics.registry)
    return asyncio.get_running_loop().create_task(metrics.run())


if __name__ == "__main__":
    asyncio.run(main())

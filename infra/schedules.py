"""Temporal Schedules the service keeps: the daily retention job (not cron: the schedule is in
Temporal, seen in its UI, and runs on whichever worker polls the task queue)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from activities.retention import RetentionInput

RETENTION_SCHEDULE_ID = "cspr-retention"
RETENTION_WORKFLOW_ID = "cspr-retention-run"


def retention_schedule(task_queue: str) -> Schedule:
    """Every day at 02:30 in London; a run still going when the next is due is not doubled."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "Retention", RetentionInput(dry_run=False), id=RETENTION_WORKFLOW_ID,
            task_queue=task_queue),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(2)],
                                            minute=[ScheduleRange(30)])],
            time_zone_name="Europe/London"),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP,
                              catchup_window=timedelta(days=1)),
    )


async def ensure_retention_schedule(client: Client, task_queue: str) -> bool:
    """Create the schedule unless it exists (every worker calls this); True if created."""
    try:
        await client.create_schedule(RETENTION_SCHEDULE_ID, retention_schedule(task_queue))
    except ScheduleAlreadyRunningError:
        return False
    return True

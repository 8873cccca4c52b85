"""The daily retention job's activity: anonymise what has passed its time (store.retention)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio import activity

from domain.retention import RetentionSchedule
from store import retention
from store.db import Sessionmaker


class RetentionInput(BaseModel):
    dry_run: bool = False


class RetentionReport(BaseModel):
    """What the job did (or, in a dry run, would do): case ids and record kinds, no content."""

    dry_run: bool
    actions: list[str]  # "CSPR-2019-0004 case_record (due 2026-07-01)"
    idempotency_records: int


async def run_retention(sessions: Sessionmaker, schedule: RetentionSchedule, now: datetime,
                        dry_run: bool) -> RetentionReport:
    """Plan, and unless a dry run, apply each action in a transaction of its own."""
    async with sessions() as session:
        actions = await retention.plan(session, schedule, now.date())
    if not dry_run:
        for action in actions:
            async with sessions.begin() as session:
                await retention.apply(session, action, "retention schedule")
    async with sessions.begin() as session:
        forgotten = await retention.forget_idempotency(session, schedule, now, dry_run)
    return RetentionReport(
        dry_run=dry_run, idempotency_records=forgotten,
        actions=[f"{a.case_id} {a.record.value} (due {a.due.isoformat()})" for a in actions])


class RetentionActivities:
    def __init__(self, sessions: Sessionmaker, schedule: RetentionSchedule) -> None:
        self._sessions = sessions
        self._schedule = schedule

    @activity.defn(name="apply_retention")
    async def apply_retention(self, input: RetentionInput) -> RetentionReport:
        """Anonymise every record past its time (a dry run only lists them)."""
        return await run_retention(self._sessions, self._schedule, datetime.now(UTC),
                                   input.dry_run)

"""A case-store projection that cannot be written: an alert on the case, never a case held up.

Before, a projection the store refused (a value PostgreSQL will not take) was retried for ever
inside the handler that made it: the case froze one stage behind, and nobody was told. Now the
projection's attempts are bounded (a refused value is not retried at all, `ProjectionRefused`;
the store down is tried for about four minutes), and when they run out the case goes on: a
`projection_failed` event says so (the audit log line and the event's count show it to the
operators), the projection is tried again every `RETRY_AFTER` and with every change (each
carries the whole case: the case row's snapshot and every audit event, written idempotently),
and a `projection_restored` event marks the store catching up.

Patch "projection-alert" (`workflow.patched`), asked once at the start of a run: a case started
before retries as it always did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

if TYPE_CHECKING:
    from activities.case_store import PartProjectionInput

PROJECTION_PATCH = "projection-alert"
# About four minutes of attempts (1+2+4+...+60 s) for the store down; a refusal once.
RETRY_POLICY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                           maximum_interval=timedelta(minutes=1), maximum_attempts=9,
                           non_retryable_error_types=["ProjectionRefused"])
RETRY_AFTER = timedelta(minutes=15)
# The store's copy is what the API reads (issue 13): a case whose events came in while it was
# busy (an e-mail's outcome during a projection, after which the wait's flag was reset) wakes
# for them at once, not at its next timer days later. New commands, so asked at a run's start.
WAKE_PATCH = "wake-unprojected"
# The case's projection is a local activity (a short store write): a record is answered after
# one workflow task, and the projection's input (the whole case) is not kept in the history
# (issue 13). Asked at the start of each run.
LOCAL_PATCH = "projection-local"
# Below the first backoff: every retry of the local projection waits on a timer, between
# workflow tasks, never in a task held open (the SDK's default is a minute).
LOCAL_RETRY_THRESHOLD = timedelta(milliseconds=500)
# A closed case whose store copy is behind tries this many more times before it completes.
CLOSING_ATTEMPTS = 4


class Projection:
    """Whether the case store is behind the case, and when to try again."""

    def __init__(self) -> None:
        self.bounded = False  # this run has the patch
        # Written by a local activity ("projection-local"): in the worker, within the workflow
        # task, not a round trip through the server; the same attempts, the same outcomes.
        self.local = False
        self.owed = False
        self.retry_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        """Time to try again, although nothing has changed."""
        return self.owed and self.retry_at is not None and now >= self.retry_at

    def next_try(self) -> datetime | None:
        return self.retry_at if self.owed else None

    def failed(self, now: datetime, error: FailureError, what: str = "case") -> str | None:
        """Note a failed projection; the detail of a `projection_failed` event if this is the
        first of a run of failures (None while one is already shown)."""
        first = not self.owed
        self.owed = True
        self.retry_at = now + RETRY_AFTER
        return why(error, what) if first else None

    def written(self) -> bool:
        """Note a projection written; True if the store was behind until now."""
        restored, self.owed, self.retry_at = self.owed, False, None
        return restored


def store_error(error: FailureError) -> BaseException | None:
    """What the store's write failed with: an activity's cause; a local activity's failure is
    raised as itself (an `ApplicationError`, a `TimeoutError`), not wrapped."""
    return error.cause if isinstance(error, ActivityError) else error


def cancelled(error: FailureError) -> bool:
    """The workflow is being cancelled (not a store that refuses)."""
    return isinstance(error, CancelledError) or isinstance(store_error(error), CancelledError)


def why(error: FailureError, what: str = "case") -> str:
    """The event's detail: the database's error class and SQLSTATE, never a value."""
    cause = store_error(error)
    minutes = int(RETRY_AFTER.total_seconds() // 60)
    again = f"tried again every {minutes} minutes and with every change"
    if isinstance(cause, ApplicationError) and cause.type == "ProjectionRefused":
        details = cause.details[0] if cause.details else {}
        state = details.get("sqlstate", "?") if isinstance(details, dict) else "?"
        return (f"the case store refused the {what} (SQLSTATE {state}): the {what} goes on, "
                f"its stored copy is behind; {again}")
    return (f"the case store could not be written: the {what} goes on, its stored copy is "
            f"behind; {again}")


async def catch_up(projection: Projection, project: Callable[[], Awaitable[object]]) -> None:
    """A case or review ending while its stored copy is behind tries a few more times first."""
    if not projection.bounded:
        return
    for _ in range(CLOSING_ATTEMPTS):
        if not projection.owed:
            break
        await workflow.sleep(RETRY_AFTER)
        await project()


@dataclass(frozen=True)
class PartWrite:
    """What became of a part's projection (`write_part`)."""

    written: bool
    # Not written, and the first failure of a run of them: a `projection_failed` event's detail.
    failed: str | None = None
    # Written after failures: the store has caught up (a `projection_restored` event).
    restored: bool = False


async def write_part(projection: Projection, part: PartProjectionInput, what: str,
                     activity_timeout: timedelta) -> PartWrite:
    """Write a child workflow's projection (its LCSPR, its action plan) to the case store: for
    ever before patch "projection-alert", else with bounded attempts and the outcome noted."""
    if not projection.bounded:
        await workflow.execute_activity("project_part", part,
                                        start_to_close_timeout=activity_timeout)
        return PartWrite(written=True)
    try:
        if projection.local:  # as the case's ("projection-local"): retries on timers
            await workflow.execute_local_activity("project_part", part,
                                                  start_to_close_timeout=activity_timeout,
                                                  retry_policy=RETRY_POLICY,
                                                  local_retry_threshold=LOCAL_RETRY_THRESHOLD)
        else:
            await workflow.execute_activity("project_part", part,
                                            start_to_close_timeout=activity_timeout,
                                            retry_policy=RETRY_POLICY)
    except FailureError as e:
        # An activity's failure is an ActivityError; a local activity's, its own error.
        if cancelled(e) or not (isinstance(e, ActivityError) or projection.local):
            raise  # the workflow is being cancelled: not a store that refuses
        failure = store_error(e)
        workflow.logger.error("%s %s: the case-store projection failed (%s)", what,
                              part.case_id, type(failure).__name__)
        return PartWrite(written=False, failed=projection.failed(workflow.now(), e, what))
    return PartWrite(written=True, restored=projection.written())

"""Continuing as new before a run's history grows large, alike for the case, its LCSPR and its
action plan: each can run for months or years, and a partner system retrying a refused signal
in a loop must not push one towards Temporal's limits (51,200 events a run; TEMPORAL-NOTES 9).

A run continues as new at a quiet point of its main loop once its history has passed
`history_per_run` events, or the server suggests it, and only if it has progressed since it
began (a new run never loops on its own). It drains first (every handler finished, every
e-mail settled, the case store written or marked owed), then hands the next run its state with
the audit trail cut to its latest events (`domain.trail`) and what this module carries.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import FailureError

# The history of one run stays under about this many events (the server's own suggestion to
# continue as new comes at a few thousand); a test sets it low to continue as new often.
HISTORY_PER_RUN = 2000


class Continued(BaseModel):
    """What one run hands the next when it continues as new, besides the workflow's state."""

    history_before: int = 0  # history events of the runs before: the projection's version
    history_per_run: int = Field(HISTORY_PER_RUN, ge=100, le=40_000)
    # The case store behind when the run before ended ("projection-alert"): the last event it
    # has (None: every one), and whether a projection is owed.
    owed: bool = False
    projected: int | None = None

    def carry(self) -> dict[str, object]:
        """The fields the next run's input starts from: the workflow's own input, and the
        history per run; not what this run hands on (the state `carried`, and the rest)."""
        return self.model_dump(exclude={"carried", "history_before", "owed", "projected",
                                        *self.handed_on()})

    def handed_on(self) -> set[str]:
        """A workflow's own fields that one run hands the next (not the start's)."""
        return set()


class History:
    """A run's history: whether it is long enough to continue as new, and the version a
    projection carries (increasing across runs: the store refuses a stale write by it)."""

    def __init__(self, run: Continued, events_at_start: int) -> None:
        self.before = run.history_before
        self.per_run = run.history_per_run
        self._events_at_start = events_at_start
        self._last = run.history_before  # the last version handed out

    def version(self) -> int:
        """The history's length (across runs), and always more than the last one handed out:
        two projections scheduled in one workflow task (a handler's and the main loop's) see
        the same length, and the store, taking only a newer version, kept the first to arrive
        (the older state, when it came last). Never more than the history's length by the
        time the projection is scheduled (each scheduling adds an event), so the next run's
        versions, counted from that length, are larger still."""
        self._last = max(self.before + workflow.info().get_current_history_length(),
                         self._last + 1)
        return self._last

    def is_long(self, events_now: int) -> bool:
        """Long enough to continue as new, and progressed since the run began."""
        info = workflow.info()
        return events_now > self._events_at_start and (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self.per_run)


async def tell_parent(signal: str, arg: BaseModel) -> None:
    """Signal the workflow that started this one as its child (its current run: the parent may
    have continued as new since); nothing if it has none, or it has closed meanwhile."""
    parent = workflow.info().parent
    if parent is None:
        return
    try:
        await workflow.get_external_workflow_handle(parent.workflow_id).signal(signal, arg)
    except FailureError as e:
        workflow.logger.warning("could not tell the parent workflow (%s)", type(e).__name__)

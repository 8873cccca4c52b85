"""Small pure helpers of the case workflow: the errors it maps for the API, a fired alert's
date, the earliest of several times, how an LCSPR ended (moved from
workflows/case_workflow.py). Nothing here adds a command of its own.
"""

from __future__ import annotations

from datetime import date, datetime

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    TerminatedError,
)
from temporalio.exceptions import TimeoutError as WorkflowTimeoutError

with workflow.unsafe.imports_passed_through():
    from domain.case import StepNotOpen
    from domain.differences import DifferenceNotFound, DifferenceNotOpen, InvalidDifference
    from workflows.common import refused

_DIFFERENCE_ERRORS = (DifferenceNotOpen, DifferenceNotFound, InvalidDifference)


def _fired_date(detail: str) -> date | None:
    """The date in a step alert's event detail ("local deadline 2027-01-20")."""
    words = detail.split()
    if len(words) == 3 and words[1] == "deadline":
        try:
            return date.fromisoformat(words[2])
        except ValueError:
            return None
    return None


def _refused_difference(
    e: DifferenceNotOpen | DifferenceNotFound | InvalidDifference,
) -> ApplicationError:
    """A refused difference update as the API maps it: 409 not open, 404 unknown, 422 field."""
    if isinstance(e, DifferenceNotOpen):
        return ApplicationError(str(e), {"field": e.field, "reason": e.reason},
                                type="DifferenceNotOpen", non_retryable=True)
    if isinstance(e, DifferenceNotFound):
        return ApplicationError(str(e), {"field": "difference_id", "reason": "not found"},
                                type="DifferenceNotFound", non_retryable=True)
    return ApplicationError(str(e), {"field": e.field, "reason": e.reason},
                            type="InvalidRecord", non_retryable=True)


def _refused_mail(error: ActivityError) -> ApplicationError:
    """A message that is not (or no longer) uncertain, or not the case's: 409 at the API."""
    cause = error.cause
    reason = cause.message if isinstance(cause, ApplicationError) else "it could not be settled"
    return refused(StepNotOpen("mail", reason))


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _ended(error: ChildWorkflowError) -> str:
    """How an LCSPR ended without a result, in a word for the audit trail."""
    cause = error.cause
    if isinstance(cause, CancelledError):
        return "cancelled"
    if isinstance(cause, TerminatedError):
        return "terminated"
    if isinstance(cause, WorkflowTimeoutError):
        return "timed_out"
    return "failed"

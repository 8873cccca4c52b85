"""What every case workflow does alike: refuse a record, check a message's actor, publish its
search attributes. Pure helpers: nothing here adds a command of its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.case import InvalidRecord, StepNotOpen
    from domain.decisions import Actor
    from domain.permissions import Refusal, Role, organisation_refusal
    from workflows import search_attributes as sa


def refused(e: StepNotOpen | InvalidRecord) -> ApplicationError:
    """A refusal as the API maps it: 409 for a step not open, 422 naming the field."""
    if isinstance(e, StepNotOpen):
        return ApplicationError(str(e), {"step": e.step, "reason": e.reason},
                                type="StepNotOpen", non_retryable=True)
    return ApplicationError(str(e), {"field": e.field, "reason": e.reason},
                            type="InvalidRecord", non_retryable=True)


def actor_refusal(
    actor: Actor | None, may: Callable[[Role, str | None], Refusal | None]
) -> Refusal | None:
    """Why a message's actor may not make its record, as the API would refuse them; None if they
    may, or if no actor is named. The reason names roles and fields, never a value sent."""
    if actor is None:
        return None
    try:
        role = Role(actor.role)
    except ValueError:
        return Refusal("the actor's role is not a role of the procedure", "role")
    return organisation_refusal(role, actor.organisation) or may(role, actor.organisation)


class SearchAttributes:
    """Upserts a workflow's search attributes, only when one of them has changed."""

    def __init__(self) -> None:
        self._last: list[object] = []

    def publish(self, case_id: str, stage: str, next_deadline: datetime | None,
                overdue: bool) -> None:
        values: list[object] = [case_id, stage, next_deadline, overdue]
        if values == self._last:
            return
        self._last = values
        workflow.upsert_search_attributes([
            sa.CASE_ID.value_set(case_id),
            sa.STAGE.value_set(stage),
            sa.NEXT_DEADLINE.value_set(next_deadline) if next_deadline
            else sa.NEXT_DEADLINE.value_unset(),
            sa.OVERDUE.value_set(overdue),
        ])

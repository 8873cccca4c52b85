"""What falls due in a case's LCSPR and action plan, read from each one's snapshot when it is
projected (issue 9: "/v1/deadlines and the case lists' due filters leave out every LCSPR and
action-plan deadline (the statutory 6-month publication included): one list of everything
due, whatever the part"). The projection writes them to `part_deadlines` (store.models), one
row a deadline, which /v1/deadlines and the due filters query by date (issue 13: flat in the
number of cases, no snapshot read)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from typing import Any

from pydantic import ValidationError

from domain.action_plan import ActionPlanState, ActionStatus, PlanStage
from domain.local_review import LocalReviewState
from domain.procedure import DeadlineKind

logger = logging.getLogger("cspr.case_store")
# (step, due date, statutory, overdue)
Due = tuple[str, date, bool, bool]


def part_items(part: str, snapshot: dict[str, Any]) -> Iterator[Due]:
    """The open deadlines of one part, as it last projected itself (none from a snapshot not
    yet written, or one this version cannot read: logged, never a failed list)."""
    try:
        yield from _items(part, snapshot)
    except ValidationError as e:
        logger.warning("deadlines: a %s snapshot not read (%d errors)", part, e.error_count())


def _items(part: str, snapshot: dict[str, Any]) -> Iterator[Due]:
    if not snapshot:
        return
    if part == "local_review":
        review = LocalReviewState.model_validate(snapshot)
        for task in review.tasks:
            due = task.due
            if task.completion is None and not task.not_required and due is not None \
                    and due.due_date is not None:
                yield (task.key, due.due_date, due.kind is DeadlineKind.STATUTORY, due.escalated)
    elif part == "action_plan":
        yield from _plan(ActionPlanState.model_validate(snapshot))


def _plan(plan: ActionPlanState) -> Iterator[Due]:
    # The plan's dates are the group's own and the service's review interval: local.
    if plan.stage is PlanStage.SIGNED_OFF:
        return
    for action in plan.actions:
        if action.status is ActionStatus.OPEN and action.due.due_date is not None:
            yield (f"action {action.action_id}", action.due.due_date, False, action.due.escalated)
    review = plan.next_review
    if review.due_date is not None:
        yield ("plan_review", review.due_date, False, review.escalated)

"""An LCSPR's deadlines counted again when the calendar changes (a bank holiday announced
after the review started, as in 2022 and 2023; footnote 18: working days skip bank holidays).

Only open tasks counted in working days move: the Panel informed (L+5), a supervision request
(every N weeks), a progress return (request+10) and the report sent seven working days before
publication. Publication within six calendar months, and the dates the group set for drafts,
do not move for a bank holiday. Pure like `domain.local_review`: the workflow asks the
calendar activity for the dates `working_day_needs` names and hands them back.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.calendar import CalendarChanged
from domain.case import ClockPoint, EventKind
from domain.local_review_records import LocalReviewStep
from domain.local_review_tasks import (
    INFORM_PANEL_WORKING_DAYS,
    PROGRESS_RETURN_WORKING_DAYS,
    REVIEWER_TO_PANEL_WORKING_DAYS,
    SEND_BEFORE_PUBLICATION_WORKING_DAYS,
    WORKING_DAYS_A_WEEK,
    Dated,
    DateNeed,
    Task,
)

if TYPE_CHECKING:
    from domain.local_review import LocalReviewState

S = LocalReviewStep


def working_day_needs(review: LocalReviewState) -> list[DateNeed]:
    """The open tasks whose due date is counted in working days, counted as they were."""
    if review.completed:
        return []
    needs = []
    for task in review.tasks:
        if task.open and task.due is not None and task.due.due_date is not None:
            need = _counted(review, task)
            if need is not None:
                needs.append(need)
    return needs


def _counted(review: LocalReviewState, task: Task) -> DateNeed | None:
    assert task.due is not None
    since = task.due.since
    match task.step:
        case S.INFORM_PANEL:
            return DateNeed(key=task.key, start=review.clock_point,
                            working_days=INFORM_PANEL_WORKING_DAYS)
        case S.REVIEWER_TO_PANEL if since is not None:
            return DateNeed(key=task.key, start=since,
                            working_days=REVIEWER_TO_PANEL_WORKING_DAYS)
        case S.SUPERVISION_REQUEST if since is not None:
            return DateNeed(key=task.key, start=since,
                            working_days=review.supervision_every_weeks * WORKING_DAYS_A_WEEK)
        case S.PROGRESS_RETURN if since is not None:
            return DateNeed(key=task.key, start=since, working_days=PROGRESS_RETURN_WORKING_DAYS)
        case S.REPORT_SENT if review.planned_publication is not None:
            # Statutory: no later than seven working days before the planned publication.
            return DateNeed(key=task.key, start=ClockPoint(on=review.planned_publication),
                            working_days=-SEND_BEFORE_PUBLICATION_WORKING_DAYS)
    return None


def recount(review: LocalReviewState, now: datetime, change: CalendarChanged,
            asked: list[DateNeed], dated: list[Dated]) -> list[str]:
    """Take the dates counted again for `asked`; returns what moved, e.g. "inform_panel
    2026-12-04 -> 2026-12-07". A task recorded or counted differently since it was asked
    (a record came in while the calendar answered) keeps what it has."""
    still = {n.key: n for n in working_day_needs(review)}
    moved: list[str] = []
    for need, d in zip(asked, dated, strict=True):
        task = next((t for t in review.tasks if t.key == need.key), None)
        if task is None or task.due is None or still.get(need.key) != need:
            continue
        due = task.due
        if (due.due_date, due.deadline_at, due.remind_at) == (d.due_date, d.deadline_at,
                                                              d.remind_at):
            continue
        if due.due_date != d.due_date:
            moved.append(f"{task.key} {due.due_date} -> {d.due_date}")
        due.due_date, due.deadline_at, due.remind_at = d.due_date, d.deadline_at, d.remind_at
        # Principle 3, the other way: a deadline now later than `now` is no longer overdue,
        # and a reminder still to come goes again; one already past stays as it was (due
        # alerts at `now` send what a deadline moved earlier now calls for).
        if d.deadline_at > now:
            due.escalated = False
        if d.remind_at > now:
            due.reminded = False
    if not review.completed:
        review.event(now, EventKind.RECORDED, None,
                     f"calendar: {change.day} {change.change}; "
                     + ("; ".join(moved) if moved else "no open deadline moved"))
    return moved

"""What the API gives for a case's LCSPR, separate from the workflow's own state."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from domain.calendar import london_date
from domain.case import Completion, EventKind, StepStatus
from domain.local_review import LocalReviewState, ReviewStage, Task
from domain.local_review_records import LocalReviewStep
from domain.parallel import ProcessKind
from domain.procedure import DeadlineKind
from domain.reviews import ReviewKind


class ReviewPartRead(BaseModel):
    party: str
    completed_on: date | None


class ReviewTaskRead(BaseModel):
    key: str = Field(description="The step, or the nth of a repeating one: progress_return#2")
    step: LocalReviewStep
    number: int | None
    deadline: DeadlineKind | None = Field(description="statutory or local; none if no date")
    basis: str | None = Field(description="How the due date is counted, e.g. L+5 working days")
    due_date: date | None
    status: StepStatus
    completed_on: date | None
    parties: list[ReviewPartRead] = Field(
        default_factory=list, description="Each partner's endorsement, where all must endorse")


class ReviewEventRead(BaseModel):
    at: datetime
    kind: EventKind
    task: str | None
    detail: str


class ActionPlanRead(BaseModel):
    workflow_id: str | None = Field(description="Started when all partners endorse the report")
    signed_off_on: date | None
    ended_without_sign_off: bool


class LocalReviewRead(BaseModel):
    """A case's LCSPR: its stage, each task with its due date and status, and the dates the
    procedure sets for publication."""

    case_id: str
    kind: ReviewKind
    stage: ReviewStage
    overdue: bool
    next_deadline: datetime | None
    decided_on: date | None = Field(description="Clock L: the decision to undertake the review")
    supervision_every_weeks: int
    draft_dates: list[date]
    planned_publication: date | None
    expected_publication: date | None = Field(
        description="The planned date, or the new date a delay gave")
    publication_delayed_because_of: list[ProcessKind] = Field(
        description="The other processes the last delay named as its cause (Appendix 3)")
    published_on: date | None
    improvements_published_on: date | None
    earliest_removal: date | None = Field(
        description="Published for at least a year: not to be taken down before this date")
    action_plan: ActionPlanRead
    tasks: list[ReviewTaskRead]
    events: list[ReviewEventRead] = Field(
        description="The latest events; the whole trail is at /v1/cases/{case_id}/events")

    @classmethod
    def of(cls, review: LocalReviewState) -> LocalReviewRead:
        return cls(
            case_id=review.case_id, kind=review.kind, stage=review.stage,
            overdue=review.overdue, next_deadline=review.next_deadline(),
            decided_on=review.clock_l, supervision_every_weeks=review.supervision_every_weeks,
            draft_dates=review.draft_dates, planned_publication=review.planned_publication,
            expected_publication=review.expected_publication, published_on=review.published_on,
            publication_delayed_because_of=review.publication_delayed_because_of,
            improvements_published_on=review.improvements_published_on,
            earliest_removal=review.earliest_removal,
            action_plan=ActionPlanRead(**review.action_plan.model_dump()),
            tasks=[_task(t) for t in review.tasks],
            events=[ReviewEventRead(at=e.at, kind=e.kind, task=e.task, detail=e.detail)
                    for e in review.events],
        )


def _on(c: Completion | None) -> date | None:
    if c is None:
        return None
    return c.completed_on or london_date(c.completed_at)


def _task(t: Task) -> ReviewTaskRead:
    return ReviewTaskRead(
        key=t.key, step=t.step, number=t.number, deadline=t.due.kind if t.due else None,
        basis=t.due.basis if t.due else None, due_date=t.due_date, status=t.status,
        completed_on=_on(t.completion),
        parties=[ReviewPartRead(party=p, completed_on=_on(t.part(p)))
                 for p in t.expected_parties],
    )

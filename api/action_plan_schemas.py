"""What the API gives for a case's action plan, separate from the workflow's own state."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from domain.action_plan import Action, ActionPlanState, PlanEvent, PlanStage, Review
from domain.action_plan_records import Audience, Oversight, PlanStep
from domain.calendar import london_date
from domain.case import EventKind
from domain.reviews import ReviewKind


class RecommendationRead(BaseModel):
    number: int
    text: str


class ActionChangeRead(BaseModel):
    at: datetime
    reason: str
    previous: dict[str, str] = Field(description="The fields changed, with their values before")


class ActionRead(BaseModel):
    action_id: str
    recommendation: int
    what: str
    owner: str = Field(description="The organisation that owns the action")
    due_date: date | None
    status: str = Field(description="open, overdue, completed or closed")
    completed_late: bool
    completed_on: date | None
    evidence: str | None
    closed_reason: str | None
    changes: list[ActionChangeRead]

    @classmethod
    def of(cls, a: Action) -> ActionRead:
        done_on = a.done_on or (london_date(a.done_at) if a.done_at else None)
        return cls(action_id=a.action_id, recommendation=a.recommendation, what=a.what,
                   owner=a.owner, due_date=a.due.due_date,
                   status="overdue" if a.overdue else a.status.value,
                   completed_late=a.completed_late, completed_on=done_on, evidence=a.evidence,
                   closed_reason=a.closed_reason,
                   changes=[ActionChangeRead.model_validate(c.model_dump()) for c in a.changes])


class ReviewRead(BaseModel):
    held_on: date
    due_date: date | None
    late: bool
    progress: str
    reported_to: list[Audience]
    oversight: Oversight
    open_actions: int
    overdue_actions: int

    @classmethod
    def of(cls, r: Review) -> ReviewRead:
        return cls(held_on=r.held_on or london_date(r.held_at),
                   **r.model_dump(exclude={"held_on", "held_at"}))


class AuditRead(BaseModel):
    requested_on: date
    reported_on: date | None
    findings: str | None


class PlanEventRead(BaseModel):
    at: datetime
    kind: EventKind
    step: PlanStep | None
    action_id: str | None
    detail: str

    @classmethod
    def of(cls, e: PlanEvent) -> PlanEventRead:
        return cls(at=e.at, kind=e.kind, step=e.step, action_id=e.action_id, detail=e.detail)


class ActionPlanRead(BaseModel):
    case_id: str
    kind: ReviewKind
    stage: PlanStage
    oversight: Oversight
    overdue: bool
    next_deadline: datetime | None
    started_on: date | None
    review_every_weeks: int
    next_review_due: date | None
    recommendations: list[RecommendationRead]
    actions: list[ActionRead]
    reviews: list[ReviewRead]
    audits: list[AuditRead]
    signed_off_on: date | None
    events: list[PlanEventRead] = Field(
        description="The latest events; the whole trail is at /v1/cases/{case_id}/events")

    @classmethod
    def of(cls, plan: ActionPlanState) -> ActionPlanRead:
        return cls(
            case_id=plan.case_id, kind=plan.kind, stage=plan.stage, oversight=plan.oversight,
            overdue=plan.overdue, next_deadline=plan.next_deadline(), started_on=plan.started_on,
            review_every_weeks=plan.review_every_weeks,
            next_review_due=None if plan.signed_off else plan.next_review.due_date,
            recommendations=[RecommendationRead(number=n, text=t)
                             for n, t in enumerate(plan.recommendations, start=1)],
            actions=[ActionRead.of(a) for a in plan.actions],
            reviews=[ReviewRead.of(r) for r in plan.reviews],
            audits=[AuditRead(requested_on=london_date(a.requested_at),
                              reported_on=london_date(a.reported_at) if a.reported_at else None,
                              findings=a.findings) for a in plan.audits],
            signed_off_on=plan.signed_off_on,
            events=[PlanEventRead.of(e) for e in plan.events],
        )

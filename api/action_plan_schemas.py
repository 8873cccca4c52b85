"""What the API gives for a case's action plan, separate from the workflow's own state."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from domain.action_plan import (
    Action,
    ActionPlanState,
    PlanEvent,
    PlanStage,
    Review,
    Signature,
)
from domain.action_plan_records import Audience, Oversight, PlanStep
from domain.calendar import london_date
from domain.case import EventKind
from domain.procedure import Partner
from domain.reviews import ReviewKind


class SignatureRead(BaseModel):
    partner: Partner
    on: date = Field(description="The date it was given (London)")

    @classmethod
    def of(cls, s: Signature) -> SignatureRead:
        return cls(partner=s.partner, on=s.on or london_date(s.at))


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
    addresses_inequalities: bool = Field(
        description="Addresses structural inequalities or embeds anti-racist practice")

    @classmethod
    def of(cls, a: Action) -> ActionRead:
        done_on = a.done_on or (london_date(a.done_at) if a.done_at else None)
        return cls(action_id=a.action_id, recommendation=a.recommendation, what=a.what,
                   owner=a.owner, due_date=a.due.due_date,
                   status="overdue" if a.overdue else a.status.value,
                   completed_late=a.completed_late, completed_on=done_on, evidence=a.evidence,
                   closed_reason=a.closed_reason,
                   addresses_inequalities=a.addresses_inequalities,
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
    reviews_before: int = Field(
        description="Earlier reviews not listed: only while the plan is read from its workflow "
                    "(the case store's copy, read otherwise, lists every review)")
    audits: list[AuditRead]
    signed_off_on: date | None
    partners_sign: bool = Field(
        description="Each safeguarding partner signs the plan off and agrees a transfer of "
                    "oversight itself (a plan started before this rule: one sign-off, one "
                    "record of the three partners' agreement)")
    signatures: list[SignatureRead] = Field(
        description="The partners' sign-offs so far; the plan closes with the third")
    awaiting_signoff: list[Partner] = Field(
        description="The partners yet to sign off (a plan whose partners sign)")
    oversight_to: Oversight | None = Field(
        description="A transfer of oversight some partners have agreed to, not yet in effect")
    oversight_agreed: list[SignatureRead] = Field(
        description="The partners who have agreed the transfer in `oversight_to`")
    no_equality_action: str | None = Field(
        description="Why no action addresses structural inequalities or anti-racist practice, "
                    "if recorded")
    equality_met: bool = Field(
        description="An action addresses structural inequalities and anti-racist practice, or a "
                    "reason why none applies is recorded: needed to sign the plan off")
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
            reviews=[ReviewRead.of(r) for r in plan.reviews], reviews_before=plan.reviews_before,
            audits=[AuditRead(requested_on=london_date(a.requested_at),
                              reported_on=london_date(a.reported_at) if a.reported_at else None,
                              findings=a.findings) for a in plan.audits],
            signed_off_on=plan.signed_off_on,
            partners_sign=plan.partners_sign,
            signatures=[SignatureRead.of(x) for x in plan.signatures],
            awaiting_signoff=plan.unsigned() if plan.partners_sign else [],
            oversight_to=plan.oversight_to,
            oversight_agreed=[SignatureRead.of(x) for x in plan.oversight_agreed],
            no_equality_action=plan.no_equality_action,
            equality_met=plan.equality_met(),
            events=[PlanEventRead.of(e) for e in plan.events],
        )

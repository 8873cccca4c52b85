"""What the case workflows and their children pass each other (the contracts between them).

The LCSPR (local review) runs as a child of the serious-incident case or of a review request;
the action plan runs as a child of the LCSPR once its final report is endorsed.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from domain.decisions import Actor
from domain.service_rules import ReviewerInvolvement


class ReviewKind(StrEnum):
    """Which route decided on the review: it decides what is sent to the Panel."""

    SERIOUS_INCIDENT = "serious_incident"  # Flowchart 3: the Panel, SoS and Ofsted are told
    REQUEST = "request"  # Flowchart 4: nothing to the Panel; publication at the partners' call


class LocalReviewInput(BaseModel):
    """Start of an LCSPR. Clock L is the date of the decision to undertake it."""

    case_id: str
    kind: ReviewKind
    procedure_version: str
    decided_on: date | None = None  # clock L, when the decision's date is known
    decided_at: AwareDatetime | None = None  # else the instant it was recorded
    actor: Actor | None = None
    # The CSPR group reviews progress and quality at intervals it sets (default four weeks);
    # the group may change them during the review (the supervision_plan record).
    supervision_every_weeks: int = Field(4, ge=1, le=26)
    # The service's own rule on a reviewer with direct involvement (domain.service_rules): the
    # case's, as it opened; None (reviews started before) refuses one.
    reviewer_involvement: ReviewerInvolvement | None = None
    # The case had a Youth Justice Board notification (Appendix 3) when its LCSPR started: the
    # published review is then submitted to the YJB. None (reviews started before): no.
    yjb_notified: bool | None = None


class LocalReviewResult(BaseModel):
    case_id: str
    published: bool | None  # None: not published, with a justification
    action_plan_signed_off_on: date | None


class FinalReportEndorsed(BaseModel):
    """The `final_report_endorsed` signal: an LCSPR tells its case that every partner has
    endorsed the final report, a decision whose rationale the family is told (issue 9)."""

    endorsed_at: AwareDatetime


class LocalReviewEnded(BaseModel):
    """The `local_review_ended` signal: an LCSPR tells its case it has ended (the case may have
    continued as new since it started the review, and no longer holds its handle). An operator
    sends it by hand, with `how`, for an LCSPR terminated while its case had continued as new."""

    how: Literal["completed", "cancelled", "terminated", "timed_out", "failed"] = "completed"
    result: LocalReviewResult | None = None


class ActionPlanInput(BaseModel):
    """Start of the action plan's monitoring, once the final report is endorsed."""

    case_id: str
    kind: ReviewKind
    recommendations: list[str] = Field(min_length=1)
    review_every_weeks: int = Field(13, ge=1, le=52)  # default quarterly


class ActionPlanResult(BaseModel):
    case_id: str
    signed_off_on: date | None = None  # None: ended with its withdrawn case
    withdrawn: bool = False


class WithdrawPart(BaseModel):
    """The `withdraw` signal to an LCSPR or an action plan: its case was withdrawn."""

    actor: Actor | None = None


class ChildSummary(BaseModel):
    """A child workflow's state as the parent case shows it."""

    workflow_id: str
    stage: str
    next_deadline: AwareDatetime | None
    overdue: bool

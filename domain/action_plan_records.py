"""The records an action plan takes: its actions, its reviews, oversight, scrutiny, sign-off.

"Local child safeguarding practice reviews" and Flowcharts 3 and 4 of the procedure: the CSPR
group, with the reviewer, devises the plan from the report's recommendations; it is reviewed
regularly and reported to the partners and the Children's MARS Board; oversight may pass to the
Safeguarding Partnership Meeting; an independent scrutiny officer may audit it; the partners
sign it off at the MARS Board. Since the patch "plan-partners" (issue 9 item 8) each of the three
partners signs the plan off, and records its own agreement to a transfer of oversight; and the
plan shows its equality duties ("Action plans must include steps to address structural
inequalities and embed anti-racist practice"). Content rules live here; whether a record may
be made now is in `domain.action_plan`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from domain.case import InvalidRecord
from domain.decisions import Actor, DecisionMessage, PlanDate, RecordBase
from domain.notification import Name, Text
from domain.procedure import Partner

# The workflow numbers actions A1, A2, ... as they are added.
ActionId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^A[1-9]\d{0,3}$")]


def _example(**fields: Any) -> ConfigDict:
    """A record's example body for the OpenAPI document."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


class PlanStep(StrEnum):
    ADD_ACTION = "add_action"
    CHANGE_ACTION = "change_action"
    COMPLETE_ACTION = "complete_action"
    CLOSE_ACTION = "close_action"
    PLAN_REVIEW = "plan_review"
    OVERSIGHT_TRANSFER = "oversight_transfer"
    SCRUTINY_AUDIT = "scrutiny_audit"
    BOARD_SIGNOFF = "board_signoff"
    NO_EQUALITY_ACTION = "no_equality_action"


class Oversight(StrEnum):
    """Who oversees the plan: the CSPR group, or the Safeguarding Partnership Meeting."""

    CSPR_GROUP = "cspr_group"
    SAFEGUARDING_PARTNERSHIP_MEETING = "safeguarding_partnership_meeting"


class Audience(StrEnum):
    """Whom the group reports progress to ("report regularly to the safeguarding partners
    also the Children's MARS Board")."""

    SAFEGUARDING_PARTNERS = "safeguarding_partners"
    MARS_BOARD = "mars_board"


class AuditStatus(StrEnum):
    REQUESTED = "requested"  # the partners asked an independent scrutiny officer
    REPORTED = "reported"  # the officer's audit/assurance event has reported


class AddAction(RecordBase):
    """An action in response to one of the final report's recommendations: what, which
    organisation owns it, and by when."""

    model_config = _example(recommendation=1, what="Joint training on bruising in non-mobile "
                            "infants for health visitors and social workers, including "
                            "adultification bias and culturally appropriate services",
                            owner="North Lincolnshire Council", due_date="2027-06-30",
                            addresses_inequalities=True)

    step: Literal["add_action"] = "add_action"
    recommendation: int = Field(ge=1, le=50, description="The recommendation's number in the "
                                "final report (1 for the first)")
    what: Text
    owner: Name = Field(description="The organisation that owns the action")
    due_date: PlanDate
    addresses_inequalities: bool = Field(
        False, description="The action addresses structural inequalities or embeds anti-racist "
        "practice (the procedure: \"Action plans must include steps to address structural "
        "inequalities and embed anti-racist practice\"); a plan is signed off only with one such "
        "action, or a reason recorded why none applies (no_equality_action)")


class ChangeAction(RecordBase):
    """A change to an open action (what, owner or due date), with the reason for it."""

    model_config = _example(action_id="A1", due_date="2027-09-30",
                            reason="Training provider changed; first cohort in September")

    step: Literal["change_action"] = "change_action"
    action_id: ActionId
    reason: Text
    what: Text | None = None
    owner: Name | None = None
    due_date: PlanDate | None = None
    addresses_inequalities: bool | None = Field(
        None, description="Mark (or unmark) the action as addressing structural inequalities "
        "or anti-racist practice")

    @model_validator(mode="after")
    def _something_changes(self) -> ChangeAction:
        if (self.what is None and self.owner is None and self.due_date is None
                and self.addresses_inequalities is None):
            raise ValueError("what: give what, owner, due_date or addresses_inequalities to "
                             "change")
        return self


class CompleteAction(RecordBase):
    """An action completed, with the evidence that shows it."""

    model_config = _example(action_id="A1", evidence="Training delivered to 84 staff; "
                            "attendance and evaluation on file")

    step: Literal["complete_action"] = "complete_action"
    action_id: ActionId
    evidence: Text


class CloseAction(RecordBase):
    """An action closed without being completed (superseded, no longer applicable), with the
    reason."""

    model_config = _example(action_id="A2", reason="Superseded by the national guidance")

    step: Literal["close_action"] = "close_action"
    action_id: ActionId
    reason: Text


class PlanReview(RecordBase):
    """A review of the plan by the group overseeing it: the progress, reported to the
    partners and the MARS Board; it may set a new cadence."""

    model_config = _example(progress="Four of six actions complete; audit of supervision "
                            "records planned", reported_to=["safeguarding_partners", "mars_board"])

    step: Literal["plan_review"] = "plan_review"
    progress: Text
    reported_to: list[Audience] = Field(
        default_factory=lambda: [Audience.SAFEGUARDING_PARTNERS, Audience.MARS_BOARD],
        min_length=1, max_length=2)
    next_review_in_weeks: int | None = Field(
        None, ge=1, le=52, description="A new cadence, from this review on; else unchanged")

    @model_validator(mode="after")
    def _distinct(self) -> PlanReview:
        if len(set(self.reported_to)) != len(self.reported_to):
            raise ValueError("reported_to: an audience is named twice")
        return self


class OversightTransfer(RecordBase):
    """One safeguarding partner's agreement that oversight of the plan pass to the
    Safeguarding Partnership Meeting (or back to the CSPR group): each partner's DSP records
    its own (`partner`), and the transfer takes effect when all three have agreed. (A plan
    started before this rule, patch "plan-partners", takes the three partners' agreement in
    one record, `agreed_by`.)"""

    model_config = _example(to="safeguarding_partnership_meeting", partner="health")

    step: Literal["oversight_transfer"] = "oversight_transfer"
    to: Oversight
    partner: Partner | None = Field(None, description="The partner agreeing: the token's org")
    agreed_by: list[Partner] | None = Field(
        None, min_length=1, max_length=3,
        description="Only for a plan started before each partner recorded its own agreement: "
                    "all three partners, once each")

    @model_validator(mode="after")
    def _all_partners(self) -> OversightTransfer:
        if self.partner is None and self.agreed_by is None:
            raise ValueError("partner: Field required")
        if self.partner is not None and self.agreed_by is not None:
            raise ValueError("agreed_by: give partner (each partner records its own agreement)")
        agreed = self.agreed_by
        if agreed is not None and (set(agreed) != set(Partner) or len(agreed) != len(Partner)):
            raise ValueError("agreed_by: all three safeguarding partners must agree, once each")
        return self


class ScrutinyAudit(RecordBase):
    """An independent scrutiny officer's audit/assurance event: requested by the partners,
    then reported with its findings."""

    model_config = _example(status="reported", findings="Improvements embedded in two of three "
                            "agencies; supervision audit to be repeated")

    step: Literal["scrutiny_audit"] = "scrutiny_audit"
    status: AuditStatus
    findings: Text | None = None

    @model_validator(mode="after")
    def _findings_when_reported(self) -> ScrutinyAudit:
        if self.status is AuditStatus.REPORTED and self.findings is None:
            raise ValueError("findings: required when the audit has reported")
        if self.status is AuditStatus.REQUESTED and self.findings is not None:
            raise ValueError("findings: not before the audit has reported")
        return self


class BoardSignoff(RecordBase):
    """One safeguarding partner's sign-off of the action plan at the Children's MARS Board
    ("The action plan will be finally signed off by the safeguarding partners at the
    Children's MARS Board"): each partner's DSP signs for its own partner, and the plan closes
    when all three have signed. Only when every action is completed or closed with a reason,
    every recommendation has an action, no scrutiny audit is waiting, and an action addresses
    structural inequalities and anti-racist practice (or a reason why none applies is recorded,
    no_equality_action). The group that runs the plan (the CSPR group, or the Safeguarding
    Partnership Meeting) does not sign off its own plan. (A plan started before this rule,
    patch "plan-partners", keeps its single sign-off.)"""

    model_config = _example(partner="police")

    step: Literal["board_signoff"] = "board_signoff"
    partner: Partner | None = Field(None, description="The partner signing: the token's org "
                                    "(required for a plan started under this rule)")


class NoEqualityAction(RecordBase):
    """Why no action of the plan addresses structural inequalities or anti-racist practice
    (the procedure: "Action plans must include steps to address structural inequalities and
    embed anti-racist practice"): without such an action, the plan is signed off only with
    this reason recorded. Recorded again to replace it."""

    model_config = _example(reason="The review found no practice issue bearing on race, "
                            "culture or structural inequality; the panel's analysis is in "
                            "section 5 of the final report")

    step: Literal["no_equality_action"] = "no_equality_action"
    reason: Text


PlanRecord = Annotated[
    AddAction | ChangeAction | CompleteAction | CloseAction | PlanReview | OversightTransfer
    | ScrutinyAudit | BoardSignoff | NoEqualityAction,
    Field(discriminator="step"),
]

PLAN_RECORD_TYPES: tuple[type[RecordBase], ...] = (
    AddAction, ChangeAction, CompleteAction, CloseAction, PlanReview, OversightTransfer,
    ScrutinyAudit, BoardSignoff, NoEqualityAction,
)


class PlanDecision(BaseModel):
    """One action-plan record, and who made it: a message once it has been validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record: PlanRecord
    actor: Actor | None = None


def parse_plan_decision(message: DecisionMessage) -> PlanDecision:
    """Validate a message; InvalidRecord names the first bad field, never its value."""
    try:
        return PlanDecision.model_validate(message.model_dump())
    except ValidationError as e:
        error = e.errors()[0]
        msg = str(error["msg"]).removeprefix("Value error, ")
        skip = {"record", str(message.record.get("step"))}
        field = ".".join(str(p) for p in error["loc"] if p not in skip)
        if not field and ": " in msg:  # a model's own rule says "field: reason"
            field, _, msg = msg.partition(": ")
        raise InvalidRecord(field or "record", msg) from None

"""The records each step takes: Doc 4 Parts A and B, the Panel reference, the rapid review.

Content rules live here; whether a record may be made at the case's stage is in `domain.case`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.notification import Name, PastDate, Reference, Text
from domain.procedure import Partner

# A date someone plans or reports (a publication, a draft, an action's due date): the calendar
# counts working days from it, so a date at the end of time must be refused before it gets there.
PlanDate = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2199, 12, 31))]


def _example(**fields: Any) -> ConfigDict:
    """A record's example body for the OpenAPI document."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


class RecordBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    completed_on: PastDate | None = Field(
        None,
        description="The date the step was done, if not today (late entry); never in the future",
    )


class InformPartners(RecordBase):
    """Doc 2 sent to the DSPs and Doc 3 to the SSLs."""

    step: Literal["inform_partners"] = "inform_partners"


class SslRecommendation(RecordBase):
    """Doc 4 Part A: the SSLs' recommendation to the partners (for a request, Flowchart 4:
    whether to undertake a CSPR)."""

    model_config = _example(
        criteria_met=True,
        recommend_panel_notification=True,
        rationale="Unexplained injuries; two agencies involved",
    )

    step: Literal["ssl_recommendation"] = "ssl_recommendation"
    criteria_met: bool = Field(
        description="A notification: the serious-case criteria are met. A request: the case "
                    "raises issues of importance to the local area and a CSPR should be done")
    # Required for a notification, left out (or false) for a request: a request does not meet
    # the serious-case definition, so there is nothing to notify. `domain.case` checks which.
    recommend_panel_notification: bool | None = Field(
        None, description="A notification only (required there): notify the national Panel")
    rationale: Text


class DspDecision(RecordBase):
    """Doc 4 Part B: one partner's decision; all three must agree."""

    model_config = _example(partner="police", criteria_met=True, rationale="Agree with the SSLs")

    step: Literal["dsp_decision"] = "dsp_decision"
    partner: Partner
    criteria_met: bool = Field(
        description="A notification: the serious-case criteria are met. A request: this "
                    "partner agrees to undertake a CSPR")
    rationale: Text


class PanelNotification(RecordBase):
    """The local authority's notification through the national notification system."""

    model_config = _example(notified_at="2026-11-27T10:15:00Z", reference="CSPN-2026-0123")

    step: Literal["panel_notification"] = "panel_notification"
    notified_at: AwareDatetime
    reference: Reference

    @model_validator(mode="after")
    def _one_date(self) -> PanelNotification:
        if self.completed_on is not None:
            raise ValueError("completed_on: not used here; notified_at is when it was done")
        return self


class AgencyRequests(RecordBase):
    """Letters and the agency report template sent to each agency involved."""

    model_config = _example(
        agencies=["North Lincolnshire Council", "Northern Lincolnshire and Goole NHS Trust"],
    )

    step: Literal["agency_requests"] = "agency_requests"
    agencies: list[Name] = Field(min_length=1, max_length=40)

    @model_validator(mode="after")
    def _distinct(self) -> AgencyRequests:
        if len({a.casefold() for a in self.agencies}) != len(self.agencies):
            raise ValueError("agencies: an agency is named twice")
        return self


class AgencyReport(RecordBase):
    """One agency's report for the rapid review."""

    model_config = _example(agency="North Lincolnshire Council")

    step: Literal["agency_reports"] = "agency_reports"
    agency: Name
    document_id: int | None = Field(
        None, ge=1, description="The agency's completed report in the case file, if it was "
        "uploaded (`POST /v1/cases/{case_id}/case-file`, kind `agency_report`): the record "
        "carries it, and the step's part shows it")


class RapidReviewOutcome(StrEnum):
    LOCAL_REVIEW = "local_review"
    NATIONAL_REVIEW_RECOMMENDED = "national_review_recommended"
    NO_FURTHER_REVIEW = "no_further_review"


class RapidReviewMeeting(RecordBase):
    """The meeting's recommendations and its decision on a review."""

    model_config = _example(
        recommendations=["Joint training on bruising in non-mobile infants"],
        outcome="local_review",
        rationale="Learning for two agencies",
    )

    step: Literal["rapid_review_meeting"] = "rapid_review_meeting"
    recommendations: list[Text] = Field(min_length=1, max_length=50)
    outcome: RapidReviewOutcome
    rationale: Text


class RapidReviewReport(RecordBase):
    """The chair's report for the Panel, on the Rapid Review Report template."""

    step: Literal["rapid_review_report"] = "rapid_review_report"


class RapidReviewSignoff(RecordBase):
    """One DSP's signature on the rapid review report."""

    model_config = _example(partner="health")

    step: Literal["rapid_review_signoff"] = "rapid_review_signoff"
    partner: Partner


class WellbeingSessions(RecordBase):
    """Reflective wellbeing sessions held, or recorded as not relevant."""

    model_config = _example(relevant=False)

    step: Literal["wellbeing_sessions"] = "wellbeing_sessions"
    relevant: bool


class RapidReviewSubmission(RecordBase):
    """The report and Doc 12 sent to the Panel."""

    step: Literal["rapid_review_submission"] = "rapid_review_submission"


class PanelDecision(StrEnum):
    NATIONAL_REVIEW = "national_review"
    NO_NATIONAL_REVIEW = "no_national_review"
    MORE_INFORMATION_REQUESTED = "more_information_requested"


class PanelResponse(RecordBase):
    """The Panel's response to the rapid review."""

    model_config = _example(decision="no_national_review")

    step: Literal["panel_response"] = "panel_response"
    decision: PanelDecision
    notes: Text | None = None


class LocalReviewDecision(RecordBase):
    """The partners' decision on an LCSPR after the Panel declined the national review the
    rapid review recommended ("the Panel have considered and concluded a local review may be
    more appropriate"): its date is clock L when they decide to undertake one. No deadline:
    the procedure sets none for this decision."""

    model_config = _example(undertake=True, decided_on="2026-11-30",
                            rationale="The Panel concluded a local review is more appropriate")

    step: Literal["local_review_decision"] = "local_review_decision"
    undertake: bool = Field(description="The partners decide to undertake an LCSPR")
    rationale: Text
    decided_on: PastDate | None = Field(
        None, description="The date of the partners' decision, if not today; never in the "
                          "future (clock L for an LCSPR)")

    @model_validator(mode="after")
    def _one_date(self) -> LocalReviewDecision:
        if self.completed_on is not None:
            raise ValueError("completed_on: not used here; decided_on is when it was decided")
        return self


class PanelInformation(RecordBase):
    """One send of the further information the Panel asked for ("The safeguarding partners
    must share further information with the Panel as requested"): what, to whom, when. The
    step is due on the service's own target (CSPR_PANEL_INFORMATION_TARGET_DAYS working days
    from the Panel's request; the procedure sets no time), and done with the send that
    completes what was asked."""

    model_config = _example(
        what="Chronology of health contacts and the school's safeguarding record",
        sent_to="Mailbox.NationalReviewPanel@education.gov.uk",
        sent_at="2026-11-30T14:00:00Z", completes=True)

    step: Literal["panel_information"] = "panel_information"
    what: Text = Field(description="What was sent")
    sent_to: Name = Field(description="To whom (the Panel secretariat's mailbox, a person)")
    sent_at: AwareDatetime = Field(description="When it was sent")
    completes: bool = Field(True, description="This send completes what the Panel asked for "
                                              "(false: more is to follow)")

    @model_validator(mode="after")
    def _one_date(self) -> PanelInformation:
        if self.completed_on is not None:
            raise ValueError("completed_on: not used here; sent_at is when it was sent")
        return self


class NoticeMethod(StrEnum):
    """How a statutory notification was made."""

    ONLINE_NOTIFICATION_SYSTEM = "online_notification_system"  # the national online system
    EMAIL = "email"
    LETTER = "letter"
    TELEPHONE = "telephone"


class StatutoryNotice(RecordBase):
    """When and how a statutory notification was sent (the notice itself holds the details)."""

    sent_at: AwareDatetime = Field(description="When it was sent")
    method: NoticeMethod
    reference: Reference | None = Field(None, description="The recipient's reference, if any")

    @model_validator(mode="after")
    def _one_date(self) -> StatutoryNotice:
        if self.completed_on is not None:
            raise ValueError("completed_on: not used here; sent_at is when it was done")
        return self


class SecretaryOfStateNotice(StatutoryNotice):
    """The Secretary of State for Education notified of a looked after child's death."""

    model_config = _example(sent_at="2026-11-27T11:00:00Z", method="email")

    step: Literal["notify_secretary_of_state"] = "notify_secretary_of_state"


class OfstedNotice(StatutoryNotice):
    """Ofsted notified of the death of a looked after child or of a care leaver under 25."""

    model_config = _example(sent_at="2026-11-27T11:00:00Z", method="online_notification_system",
                            reference="CSPN-2026-0456")

    step: Literal["notify_ofsted"] = "notify_ofsted"


class ContributionArea(StrEnum):
    MIGRATION = "migration"
    BORDER = "border"
    CITIZENSHIP = "citizenship"


class HomeOfficeContribution(RecordBase):
    """A rapid review or CSPR is believed to need a Home Office contribution: the Home Office's
    Chief Caseworking Unit is to be notified (due one working day after `completed_on`)."""

    model_config = _example(areas=["migration"])

    step: Literal["home_office_contribution"] = "home_office_contribution"
    areas: list[ContributionArea] = Field(min_length=1, max_length=3)


class HomeOfficeNotice(StatutoryNotice):
    """The Home Office Chief Caseworking Unit notified (CCUsafeguarding@homeoffice.gov.uk)."""

    model_config = _example(sent_at="2026-11-27T11:00:00Z", method="email")

    step: Literal["notify_home_office"] = "notify_home_office"


StepRecord = Annotated[
    InformPartners
    | SslRecommendation
    | DspDecision
    | PanelNotification
    | AgencyRequests
    | AgencyReport
    | RapidReviewMeeting
    | RapidReviewReport
    | RapidReviewSignoff
    | WellbeingSessions
    | RapidReviewSubmission
    | PanelResponse
    | LocalReviewDecision
    | PanelInformation
    | SecretaryOfStateNotice
    | OfstedNotice
    | HomeOfficeContribution
    | HomeOfficeNotice,
    Field(discriminator="step"),
]

RECORD_TYPES: tuple[type[RecordBase], ...] = (
    InformPartners, SslRecommendation, DspDecision, PanelNotification, AgencyRequests,
    AgencyReport, RapidReviewMeeting, RapidReviewReport, RapidReviewSignoff,
    WellbeingSessions, RapidReviewSubmission, PanelResponse, LocalReviewDecision,
    PanelInformation, SecretaryOfStateNotice,
    OfstedNotice, HomeOfficeContribution, HomeOfficeNotice,
)


class Actor(BaseModel):
    """Who made a record: the subject, role and organisation of their token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: Name
    role: Name
    organisation: Name | None = None


class Decision(BaseModel):
    """One step's record, and who made it: a message once it has been validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record: StepRecord
    actor: Actor | None = None


class DecisionMessage(BaseModel):
    """What an update or signal carries, before validation.

    Deliberately loose: the workflow validates it against `Decision` itself, so a malformed
    message is refused by name (and never logged with its content), and rules made stricter
    later never stop an old history's messages from decoding on replay.
    """

    model_config = ConfigDict(extra="allow")

    record: dict[str, Any] = Field(default_factory=dict)
    actor: dict[str, Any] | None = None

"""The records an LCSPR takes (Flowcharts 3 and 4): terms of reference, supervision, the final
report and its publication.

Content rules live here (a record that breaks one is refused naming the field); whether a record
may be made at the review's stage is in `domain.local_review`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.decisions import Actor, PlanDate, RecordBase
from domain.notification import Name, PersonName, Text
from domain.parallel import ProcessKind
from domain.procedure import Partner
from domain.text import MULTI_LINE


def _example(**fields: Any) -> ConfigDict:
    """A record's example body for the OpenAPI document."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


class LocalReviewStep(StrEnum):
    INFORM_PANEL = "inform_panel"
    TERMS_OF_REFERENCE = "terms_of_reference"
    TOR_ENDORSEMENT = "tor_endorsement"
    REVIEWER_COMMISSIONED = "reviewer_commissioned"
    REVIEWER_TO_PANEL = "reviewer_to_panel"
    SUPERVISION_PLAN = "supervision_plan"
    SUPERVISION_REQUEST = "supervision_request"
    PROGRESS_RETURN = "progress_return"
    DRAFT_SHARED = "draft_shared"
    LEARNING = "learning"
    NATIONAL_REVIEW_INFORMATION = "national_review_information"
    FINAL_REPORT = "final_report"
    REPORT_ENDORSEMENT = "report_endorsement"
    REPORT_SENT = "report_sent"
    PUBLICATION_PLANNED = "publication_planned"
    PUBLICATION_DELAYED = "publication_delayed"
    PUBLISHED = "published"
    NOT_PUBLISHED = "not_published"
    NOT_PUBLISHED_AGREEMENT = "not_published_agreement"
    CONSENT = "consent"
    FINDINGS_COMMUNICATED = "findings_communicated"
    YJB_SUBMISSION = "yjb_submission"


def _no_completed_on(record: RecordBase, instead: str) -> None:
    if record.completed_on is not None:
        raise ValueError(f"completed_on: not used here; {instead} is when it was done")


class InformPanel(RecordBase):
    """The Panel, Ofsted and DfE told that a local review will be carried out, with the name
    of any reviewer commissioned (serious cases only). From procedure r4 the name may follow:
    the reviewer's details then go to the Panel as their own record (`reviewer_to_panel`)."""

    model_config = _example(reviewer_name="A. Reviewer")

    step: Literal["inform_panel"] = "inform_panel"
    reviewer_name: Name | None = None


class ReviewerToPanel(RecordBase):
    """The reviewer's details sent to the Panel, once commissioned, when the Panel was told of
    the review before a reviewer was (serious cases only)."""

    model_config = _example(reviewer_name="A. Reviewer")

    step: Literal["reviewer_to_panel"] = "reviewer_to_panel"
    reviewer_name: Name


class TermsOfReference(RecordBase):
    """Methodology, scope and terms of reference agreed by the CSPR group; they must consider
    race, racism and bias. Recording them again (before the reviewer starts) needs the partners'
    endorsement again."""

    model_config = _example(
        methodology="Local systems methodology (Appendix 5)",
        scope="The six months before the incident",
        independent_challenge="An independent chair challenges each agency's account",
        views_captured="Practitioners' learning event; the family met at home",
        race_racism_bias="Whether the child's ethnicity and culture shaped decisions; "
                         "adultification",
        independent_author=True,
    )

    step: Literal["terms_of_reference"] = "terms_of_reference"
    methodology: Text
    scope: Text
    independent_challenge: Text = Field(
        description="How independent views and challenge will be evidenced")
    views_captured: Text = Field(
        description="How the views of service leaders, frontline practitioners and the "
                    "family will be captured")
    race_racism_bias: Annotated[str, MULTI_LINE] | None = Field(
        None, max_length=4000,
        description="How the review will consider race, racism and bias: required")
    independent_author: bool
    independent_contributions: Text | None = Field(
        None, description="Without an independent author: how independent contributions will "
                          "be made from across the local network")

    @model_validator(mode="after")
    def _required_considerations(self) -> TermsOfReference:
        if not (self.race_racism_bias and self.race_racism_bias.strip()):
            raise ValueError("race_racism_bias: the terms of reference must explicitly "
                             "consider race, racism and bias")
        if not self.independent_author and self.independent_contributions is None:
            raise ValueError("independent_contributions: without an independent author, say "
                             "how independent contributions will be made")
        return self


class TorEndorsement(RecordBase):
    """One partner's endorsement of the terms of reference; all three must endorse."""

    model_config = _example(partner="health")

    step: Literal["tor_endorsement"] = "tor_endorsement"
    partner: Partner


class ReviewerCommissioned(RecordBase):
    """The reviewer commissioned: any conflict of interest declared, and no direct
    involvement in the case."""

    model_config = _example(reviewer_name="A. Reviewer", conflicts_of_interest="None declared",
                            no_direct_involvement=True)

    step: Literal["reviewer_commissioned"] = "reviewer_commissioned"
    reviewer_name: Name
    conflicts_of_interest: Text = Field(
        description="The reviewer's declaration of any real or perceived conflict of interest")
    no_direct_involvement: bool = Field(
        description="False: the reviewer had direct involvement in the management of the case. "
                    "Refused by default: the service's own rule (CSPR_REVIEWER_INVOLVEMENT="
                    "refuse); the procedure asks only that consideration be given to it "
                    "(Appendix 5), which CSPR_REVIEWER_INVOLVEMENT=consider allows, with "
                    "involvement_consideration recorded")
    involvement_consideration: Text | None = Field(
        None, description="The consideration given to the reviewer's direct involvement "
                          "(required where there is some and the setting allows it)")


class SupervisionPlan(RecordBase):
    """The intervals at which the CSPR group reviews progress and quality, and the dates
    drafts are shared with the partners. Recorded again to change them."""

    model_config = _example(every_weeks=4, draft_dates=["2027-03-01", "2027-04-12"])

    step: Literal["supervision_plan"] = "supervision_plan"
    every_weeks: int = Field(4, ge=1, le=26)
    draft_dates: list[PlanDate] = Field(default_factory=list, max_length=12)

    @model_validator(mode="after")
    def _in_order(self) -> SupervisionPlan:
        if self.draft_dates != sorted(set(self.draft_dates)):
            raise ValueError("draft_dates: give each date once, in order")
        return self


class SupervisionRequest(RecordBase):
    """The group's written request to the reviewer for information on progress and quality."""

    model_config = _example(request="Progress against the terms of reference; family contact")

    step: Literal["supervision_request"] = "supervision_request"
    request: Text


class ProgressReturn(RecordBase):
    """The reviewer's written answer to a supervision request."""

    model_config = _example(request=1, progress="Agency chronologies merged",
                            quality="Health chronology late")

    step: Literal["progress_return"] = "progress_return"
    request: int = Field(ge=1, description="The number of the supervision request answered")
    progress: Text
    quality: Text | None = None


class DraftShared(RecordBase):
    """A draft of the review shared with the partners on its set date."""

    model_config = _example(draft=1)

    step: Literal["draft_shared"] = "draft_shared"
    draft: int = Field(ge=1, description="The draft's number in the supervision plan's dates")


class Learning(RecordBase):
    """Learning about improvements captured during the review, and corrective action taken."""

    model_config = _example(learning="Referrals by phone are not confirmed in writing",
                            corrective_action="Written confirmation within 24 hours",
                            disseminated=True)

    step: Literal["learning"] = "learning"
    learning: Text
    corrective_action: Text | None = None
    disseminated: bool = False


class NationalReviewInformation(RecordBase):
    """New information suggesting a national review may be appropriate, shared with the
    Panel (serious cases only)."""

    model_config = _example(summary="A pattern across three local authorities")

    step: Literal["national_review_information"] = "national_review_information"
    summary: Text


_REQUIRED_NOW: dict[str, Any] = {"x-required": True}


class EqualityAnalysis(BaseModel):
    """The impact on the child and family of each of these; every one is required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    race: Text
    ethnicity: Text
    religion: Text
    gender: Text
    sexuality: Text
    disability: Text
    poverty: Text
    # "Reviewers must assess whether race, ethnicity, and culture were considered in
    # professional decision-making, and whether any adultification or bias occurred. Language
    # barriers and access to culturally appropriate services must also be evaluated." Required
    # of every review opened since patch "equality-analysis" (`LocalReviewState.check`); absent
    # in the reports of reviews opened before, which the model must still read.
    language_barriers: Text | None = Field(None, json_schema_extra=_REQUIRED_NOW)
    culturally_appropriate_services: Text | None = Field(None, json_schema_extra=_REQUIRED_NOW)
    adultification: Text | None = Field(
        None, json_schema_extra=_REQUIRED_NOW,
        description="Whether any adultification or bias occurred")


# Asked of every review opened since they were added (the form marks them required).
EVALUATED_SINCE = ("language_barriers", "culturally_appropriate_services", "adultification")
EQUALITY_FIELDS = tuple(EqualityAnalysis.model_fields)


class FinalReport(RecordBase):
    """The reviewer's final report. A revised one may follow until all partners endorse it."""

    model_config = _example(
        improvements_summary=["Confirm every telephone referral in writing"],
        systemic_analysis="Referral pathways differ between agencies",
        equality_analysis=dict.fromkeys(EQUALITY_FIELDS, "Considered: see section 5"),
    )

    step: Literal["final_report"] = "final_report"
    improvements_summary: list[Text] = Field(
        min_length=1, max_length=50,
        description="The recommended improvements: they become the action plan's")
    systemic_analysis: Text = Field(
        description="Systemic or underlying reasons why actions were or were not taken")
    equality_analysis: EqualityAnalysis


class ReportEndorsement(RecordBase):
    """One partner's endorsement of the final report; all three must endorse."""

    model_config = _example(partner="police")

    step: Literal["report_endorsement"] = "report_endorsement"
    partner: Partner


class ReportSent(RecordBase):
    """The report (or, if only improvements are published, that information) sent by the MARS
    team to the Panel, the Secretary of State and Ofsted (serious cases only)."""

    model_config = _example(report="full_report")

    step: Literal["report_sent"] = "report_sent"
    report: Literal["full_report", "improvements_information"] = "full_report"


class PublicationPlanned(RecordBase):
    """The publication date; refused if the report cannot reach the Panel, the Secretary of
    State and Ofsted seven working days before it."""

    model_config = _example(publication_date="2027-05-28")

    step: Literal["publication_planned"] = "publication_planned"
    publication_date: PlanDate


class PublicationDelayed(RecordBase):
    """Publication will be late (a criminal trial, an inquest): the reasons, as sent to the
    Panel and the Secretary of State, the other processes causing it, and the new expected
    date."""

    model_config = _example(reasons="Criminal trial listed for the autumn",
                            because_of=["criminal_investigation"],
                            new_expected_date="2027-11-30")

    step: Literal["publication_delayed"] = "publication_delayed"
    reasons: Text
    # "Where other proceedings may have an impact on or delay publication, for example an
    # ongoing criminal investigation, inquest or future prosecution" (Local reviews): which.
    because_of: list[ProcessKind] = Field(
        default_factory=list, max_length=len(ProcessKind),
        description="The other processes delaying publication (Appendix 3), e.g. "
                    "criminal_investigation (with a future prosecution) or inquest")
    new_expected_date: PlanDate

    @model_validator(mode="after")
    def _each_once(self) -> PublicationDelayed:
        if len(set(self.because_of)) != len(self.because_of):
            raise ValueError("because_of: a process is named twice")
        return self


class Published(RecordBase):
    """The report published; it must stay published for at least a year."""

    model_config = _example(published_on="2027-05-28")

    step: Literal["published"] = "published"
    published_on: PlanDate
    where: Name = "Children's MARS website"

    @model_validator(mode="after")
    def _one_date(self) -> Published:
        _no_completed_on(self, "published_on")
        return self


class NotPublished(RecordBase):
    """A decision not to publish the full report: its justification, and the date the
    improvements were published instead (both required for a serious case)."""

    model_config = _example(justification="Publication would identify the surviving sibling",
                            improvements_published_on="2027-05-28")

    step: Literal["not_published"] = "not_published"
    justification: Text | None = None
    improvements_published_on: PlanDate | None = None

    @model_validator(mode="after")
    def _one_date(self) -> NotPublished:
        _no_completed_on(self, "improvements_published_on")
        return self


class Consent(RecordBase):
    """Flowchart 4 only: "Where reviews are undertaken in cases which are not 'serious child
    safeguarding cases' then consent to complete the review must be sought." Who was asked (a
    role is enough), when, whether they consented; without consent, the data-protection check:
    "whether the review should and can lawfully be carried out without such consent ... the
    purposes of the review, their powers ... and the Data Protection Act requirements", and
    its conclusion. The terms of reference wait for consent given, or a check that found the
    review lawful without it."""

    model_config = _example(sought_from="The child's mother", sought_on="2027-01-11",
                            given=True)

    step: Literal["consent"] = "consent"
    sought_from: PersonName = Field(description="Who was asked: a role (\"the child's mother\") is "
                                          "enough")
    sought_on: PlanDate
    given: bool
    data_protection_check: Text | None = Field(
        None, description="Without consent (required then): the purposes of the review, the "
                          "partners' powers, and the Data Protection Act requirements for "
                          "sharing information without consent")
    lawful_without_consent: bool | None = Field(
        None, description="Without consent (required then): the check's conclusion, that the "
                          "review should and can lawfully be carried out without it")

    @model_validator(mode="after")
    def _check_without_consent(self) -> Consent:
        if not self.given:
            if self.data_protection_check is None:
                raise ValueError("data_protection_check: required when consent is not given")
            if self.lawful_without_consent is None:
                raise ValueError("lawful_without_consent: required when consent is not given")
        return self


class FindingsCommunicated(RecordBase):
    """"Communication of the findings and identified improvements disseminated to relevant
    parties" (Flowcharts 3 and 4), after publication: to whom, when, how."""

    model_config = _example(parties=["Designated safeguarding leads in schools",
                                     "GP practices"],
                            communicated_on="2027-06-10",
                            method="Seven-minute briefing and a learning event")

    step: Literal["findings_communicated"] = "findings_communicated"
    parties: list[Name] = Field(min_length=1, max_length=30,
                                description="The relevant parties told (roles or bodies)")
    communicated_on: PlanDate
    method: Text


class YjbSubmission(RecordBase):
    """The published review submitted to the Youth Justice Board: "all published reviews of
    any relevant notified serious incidents be submitted to the YJB via the serious incident's
    mailbox at the point of completion/publication" (Appendix 3)."""

    model_config = _example(submitted_on="2027-05-28")

    step: Literal["yjb_submission"] = "yjb_submission"
    submitted_on: PlanDate
    sent_to: Name = "YJB serious incidents mailbox"


class NotPublishedAgreement(RecordBase):
    """One partner's agreement to the decision not to publish the full report: the decision is
    the safeguarding partners' ("must publish the report, unless they consider it
    inappropriate"), so it takes effect only once all three have agreed (issue 9, item 8)."""

    model_config = _example(partner="local_authority")

    step: Literal["not_published_agreement"] = "not_published_agreement"
    partner: Partner


ReviewRecord = Annotated[
    InformPanel | TermsOfReference | TorEndorsement | ReviewerCommissioned | SupervisionPlan
    | SupervisionRequest | ProgressReturn | DraftShared | Learning | NationalReviewInformation
    | FinalReport | ReportEndorsement | ReportSent | PublicationPlanned | PublicationDelayed
    | Published | NotPublished | ReviewerToPanel | NotPublishedAgreement | Consent
    | FindingsCommunicated | YjbSubmission,
    Field(discriminator="step"),
]

REVIEW_RECORD_TYPES: tuple[type[RecordBase], ...] = (
    InformPanel, TermsOfReference, TorEndorsement, ReviewerCommissioned, SupervisionPlan,
    SupervisionRequest, ProgressReturn, DraftShared, Learning, NationalReviewInformation,
    FinalReport, ReportEndorsement, ReportSent, PublicationPlanned, PublicationDelayed,
    Published, NotPublished, ReviewerToPanel, NotPublishedAgreement, Consent,
    FindingsCommunicated, YjbSubmission,
)


class ReviewDecision(BaseModel):
    """One LCSPR record and who made it: a `DecisionMessage` once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record: ReviewRecord
    actor: Actor | None = None

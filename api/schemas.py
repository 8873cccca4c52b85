"""What the API takes and gives, separate from the workflow's own state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from domain.calendar import london_date
from domain.case import (
    AmendmentRecord,
    CaseState,
    Outcome,
    Stage,
    StepState,
    StepStatus,
    WithdrawalRecord,
)
from domain.decisions import AgencyReport
from domain.families import Families
from domain.notification import Child, Incident, Name, Notification, Text
from domain.procedure import Clock, DeadlineKind, Procedure, Step
from domain.request import RequestCategory, ReviewRequest
from domain.reviews import ChildSummary
from domain.service_rules import MAX_CHILDREN_LIMIT
from workflows.ids import action_plan_id, local_review_id

# No case of this service was received before the statutory scheme it runs existed.
EARLIEST_RECEIPT = datetime(2000, 1, 1, tzinfo=UTC)
CASE_ID_PATTERN = r"^CSPR-\d{4}-[A-Z0-9]{4,12}$"


class NotificationCreate(BaseModel):
    """Doc 1: a notification of a serious child safeguarding incident."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "notifying_agency": "Humberside Police",
        "incident": {"date": "2026-11-20", "harm": "serious_harm",
                     "abuse_or_neglect": "suspected"},
        "children": [{"reference": "NL-123456", "looked_after": False}],
    }]})

    received_at: AwareDatetime | None = Field(
        None, ge=EARLIEST_RECEIPT,
        description="When the MARS team received it; defaults to now, never in the future",
    )
    case_id: str | None = Field(
        None, pattern=CASE_ID_PATTERN,
        description="Only for a case already open before it was entered here; else allocated",
    )
    notifying_agency: Name
    incident: Incident
    children: list[Child] = Field(
        min_length=1, max_length=MAX_CHILDREN_LIMIT,
        description="At most CSPR_MAX_CHILDREN (default 4): the service's own limit, not the "
                    "procedure's")
    partners_consider_criteria: bool = Field(
        False, description="Only with `abuse_or_neglect: not_suspected` (a looked after "
        "child's or a care leaver's death): the partners also consider the CSPR criteria, so "
        "the case runs Flowcharts 1 and 2 besides the statutory notices")
    la_aware_at: AwareDatetime | None = Field(
        None, ge=EARLIEST_RECEIPT,
        description="When the local authority became aware of the incident, if earlier than "
        "receipt (never after it): the Panel notification's statutory 5 working days count "
        "from it, the local steps from receipt")

    def to_notification(self, received_at: datetime) -> Notification:
        return Notification(received_at=received_at, notifying_agency=self.notifying_agency,
                            incident=self.incident, children=self.children,
                            la_aware_at=self.la_aware_at,
                            partners_consider_criteria=self.partners_consider_criteria)


class ReviewRequestCreate(BaseModel):
    """A request for a CSPR where the serious-case definition is not met (Flowchart 4)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "requesting_agency": "North Lincolnshire Council",
        "category": "near_miss",
        "summary": "A referral was nearly closed without a home visit",
        "discussed_with_ssl": True,
        "children": [{"reference": "NL-123456"}],
    }]})

    received_at: AwareDatetime | None = Field(
        None, ge=EARLIEST_RECEIPT,
        description="When the MARS team received it; defaults to now, never in the future",
    )
    requesting_agency: Name
    category: RequestCategory = Field(
        description="good_practice, poor_practice, near_miss or other circumstances")
    summary: Text
    discussed_with_ssl: bool = Field(
        description="The request follows a discussion with the SSLs (Flowchart 4): must be true")
    children: list[Child] = Field(
        min_length=1, max_length=MAX_CHILDREN_LIMIT,
        description="At most CSPR_MAX_CHILDREN (default 4): the service's own limit, not the "
                    "procedure's")

    def to_request(self, received_at: datetime) -> ReviewRequest:
        return ReviewRequest(received_at=received_at, requesting_agency=self.requesting_agency,
                             category=self.category, summary=self.summary,
                             discussed_with_ssl=self.discussed_with_ssl, children=self.children)


class DeadlineRead(BaseModel):
    kind: DeadlineKind
    clock: Clock
    working_days: int
    due_date: date | None


class PartRead(BaseModel):
    party: str
    completed_on: date | None
    document_id: int | None = Field(
        None, description="An agency's report in the case file, as its record carried it")


class StepRead(BaseModel):
    step: Step
    title: str
    who: str
    statutory: bool
    due_date: date | None
    status: StepStatus
    completed_on: date | None
    deadlines: list[DeadlineRead]
    parties: list[PartRead] = Field(
        default_factory=list, description="Each partner's or agency's part, where all must record"
    )


class EventRead(BaseModel):
    at: datetime
    kind: str
    step: Step | None
    detail: str


Source = Literal["workflow", "store"]


class CaseRead(BaseModel):
    case_id: str
    kind: str = Field("serious_incident", description="serious_incident or request")
    procedure_version: str
    stage: Stage
    outcome: Outcome | None
    overdue: bool = Field(description="A step of the case, its LCSPR or its action plan is "
                                      "overdue")
    next_deadline: datetime | None = Field(
        description="The earliest deadline to come, of the case, its LCSPR or its action plan")
    clocks: dict[Clock, date]
    notification: Notification | None = Field(description="A serious incident's (Doc 1)")
    request: ReviewRequest | None = Field(None, description="A request's (Flowchart 4)")
    steps: list[StepRead]
    events: list[EventRead] = Field(
        description="The latest events (a long-running case keeps its latest in the workflow); "
        "the whole trail is at /v1/cases/{case_id}/events")
    local_review: ChildSummary | None = Field(
        None, description="The LCSPR, once started: its stage, next deadline, overdue")
    action_plan: ChildSummary | None = Field(
        None, description="The action plan, once started: its stage, next deadline, overdue")
    letters_in_flight: list[Step] = Field(
        default_factory=list, description="Steps whose letters the service is sending: each is "
        "recorded when they have reached everyone")
    source: Source = Field(
        "workflow", description="store: the case store's copy, which the case writes before it "
        "answers a record (every read but the one below); workflow: the running case answered, "
        "because the store's copy was known to be behind (the store did not take the case's "
        "last change: down, or refusing a value) until the case writes it again. If the case "
        "does not answer then, the stored copy is shown (store), and the workspace says it may "
        "be behind")
    withdrawal: WithdrawalRecord | None = Field(
        None, description="The MARS team's withdrawal (outcome withdrawn): the reason, the case "
        "it duplicates if any, when and by whom")
    amendments: list[AmendmentRecord] = Field(
        default_factory=list, description="The MARS team's amendments of the notification: "
        "why, what changed (by position), the children before, when and by whom")

    families: Families | None = Field(
        None, description="The family told of each decision (issue 9): each record (who was "
        "told, when, how, for which decision, how the family will be involved) and the "
        "decisions made and not yet told (`owed`, each with its next reminder); none for a "
        "case opened before they were recorded")

    @classmethod
    def of(cls, case: CaseState, proc: Procedure,
           parts: dict[str, ChildSummary] | None = None) -> CaseRead:
        parts = parts or {}
        # A closed case is over, whatever a part last projected (a review cancelled with it).
        live = [] if case.closed else list(parts.values())
        deadlines = [d for d in (case.next_deadline(), *(p.next_deadline for p in live))
                     if d is not None]
        return cls(
            case_id=case.case_id, kind=case.kind.value, procedure_version=case.procedure_version,
            stage=case.stage, outcome=case.outcome,
            overdue=case.overdue or any(p.overdue for p in live),
            next_deadline=min(deadlines) if deadlines else None,
            clocks=case.clock_dates, notification=case.notification, request=case.request,
            steps=[_step(s, proc, _report_documents(case)) for s in case.steps],
            events=[EventRead(at=e.at, kind=e.kind.value, step=e.step, detail=e.detail)
                    for e in case.events],
            local_review=parts.get("local_review"), action_plan=parts.get("action_plan"),
            letters_in_flight=case.letters_in_flight, withdrawal=case.withdrawal,
            amendments=case.amendments,
            families=case.families if case.families.enabled else None,
        )


def _completed_on(on: date | None, at: datetime | None) -> date | None:
    if on is not None:
        return on
    return london_date(at) if at is not None else None


def _report_documents(case: CaseState) -> dict[str, int]:
    """Each agency's report document, as its last `agency_reports` record carried it (by the
    agency's name in any letter case)."""
    return {r.agency.casefold(): r.document_id for r in case.records
            if isinstance(r, AgencyReport) and r.document_id is not None}


def _step(s: StepState, proc: Procedure, documents: dict[str, int]) -> StepRead:
    spec = proc.spec(s.step)
    c = s.completion
    reports = documents if s.step is Step.AGENCY_REPORTS else {}
    return StepRead(
        step=s.step, title=spec.title, who=spec.who, statutory=s.statutory,
        due_date=s.due_date, status=s.status,
        completed_on=_completed_on(c.completed_on, c.completed_at) if c else None,
        deadlines=[DeadlineRead(kind=d.kind, clock=d.clock, working_days=d.working_days,
                                due_date=d.due_date) for d in s.deadlines],
        parties=[
            PartRead(party=party, completed_on=_completed_on(p.completed_on, p.completed_at)
                     if (p := s.part(party)) else None,
                     document_id=reports.get(party.casefold()))
            for party in s.expected_parties
        ],
    )


class RecordReceipt(BaseModel):
    """What a role that records a step but may not read the case gets back: its own record,
    with the case id and stage (issue 9, item 9: never the child, the notification or any
    other party's step)."""

    case_id: str
    stage: Stage
    step: Step
    party: str | None = Field(description="Whose record: the agency's own name, as the case "
                                          "holds it")
    completed_on: date | None
    completed_at: datetime | None = Field(description="When the record entered the case")
    due_date: date | None = Field(description="The step's due date (the same for every party)")
    document_id: int | None = Field(
        None, description="The report in the case file the agency's record carried, if any")

    @classmethod
    def of(cls, case: CaseState, step: Step, organisation: str | None) -> RecordReceipt:
        """The organisation's own part of the step (its name in any letter case)."""
        state = next(s for s in case.steps if s.step == step)
        own = (organisation or "").casefold()
        mine = next((p for p in state.parts if (p.party or "").casefold() == own), None)
        if mine is None and not state.parts and state.completion is not None \
                and (state.completion.party or "").casefold() == own:
            mine = state.completion
        return cls(case_id=case.case_id, stage=case.stage, step=step,
                   party=mine.party if mine else None,
                   completed_on=_completed_on(mine.completed_on, mine.completed_at)
                   if mine else None,
                   completed_at=mine.completed_at if mine else None, due_date=state.due_date,
                   document_id=_report_documents(case).get(own)
                   if step is Step.AGENCY_REPORTS else None)


class WorkingDay(BaseModel):
    date: date


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite (make run's store) hands back times without their zone; they were stored in UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


StoredTime = Annotated[datetime, AfterValidator(_as_utc)]


class CaseSummary(BaseModel):
    """A case in a list, from the case store. `overdue` and `next_deadline` are the case's with
    its LCSPR's and action plan's: the case as a whole."""

    model_config = ConfigDict(from_attributes=True)

    case_id: str
    kind: str
    stage: Stage
    outcome: Outcome | None
    overdue: bool
    next_deadline: StoredTime | None
    received_at: StoredTime
    possible_duplicate_of: list[str] = Field(
        description="Other cases for the same child and incident date: likely duplicates")


    @classmethod
    def of(cls, case: Any, parts: Sequence[Any]) -> CaseSummary:
        """A stored case (`store.models.Case`) with its stored parts (`CasePart`)."""
        summary = cls.model_validate(case)
        live = [] if summary.stage is Stage.CLOSED else parts
        deadlines = [d for d in (summary.next_deadline,
                                 *(_as_utc(p.next_deadline) for p in live)) if d is not None]
        return summary.model_copy(update={
            "overdue": summary.overdue or any(p.overdue for p in live),
            "next_deadline": min(deadlines) if deadlines else None})


# The workflow id of each part of a case that runs as a child workflow.
PART_WORKFLOW_IDS: dict[str, Callable[[str], str]] = {
    "local_review": local_review_id, "action_plan": action_plan_id}


def part_summaries(case_id: str, parts: Sequence[Any]) -> dict[str, ChildSummary]:
    """The stored parts of a case (`store.models.CasePart`) as the case shows them."""
    return {
        p.part: ChildSummary(workflow_id=PART_WORKFLOW_IDS[p.part](case_id), stage=p.stage,
                             next_deadline=_as_utc(p.next_deadline), overdue=p.overdue)
        for p in parts if p.part in PART_WORKFLOW_IDS
    }


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int = Field(description="How many cases match the filters in all")
    limit: int
    offset: int


class AuditEventRead(BaseModel):
    """One line of a case's audit trail: who did what, when, through which channel."""

    model_config = ConfigDict(from_attributes=True)

    part: str = Field(description="Which workflow of the case: case, local_review, action_plan")
    sequence: int
    at: StoredTime
    kind: str
    step: str | None
    detail: str
    channel: str
    actor_subject: str | None
    actor_role: str | None
    actor_organisation: str | None


class DeadlineItem(BaseModel):
    """An open step falling due: the case's own, its LCSPR's or its action plan's."""

    case_id: str
    stage: Stage
    part: str = Field("case", description="case, local_review or action_plan")
    step: str = Field(description="The case's step (a Step), the LCSPR's task (e.g. "
                                  "published, supervision_request#2) or the plan's "
                                  "(action A1, plan_review)")
    due_date: date
    statutory: bool
    status: StepStatus

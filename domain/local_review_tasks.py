"""The parts of an LCSPR (Flowcharts 3 and 4): its stages, the procedure's numbers, and the
tasks with their deadlines that `domain.local_review` keeps.

Pure data and rules, no I/O: every date in a task comes from the calendar activity.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field, computed_field

from domain.case import CaseEvent, Channel, ClockPoint, Completion, EventKind, StepStatus
from domain.decisions import Actor
from domain.local_review_records import LocalReviewStep
from domain.procedure import DeadlineKind, Partner

S = LocalReviewStep
# "As soon as decided" (Working Together, ch. 4): our local target is L+5 working days.
INFORM_PANEL_WORKING_DAYS = 5
# Statutory: the report reaches the Panel, the Secretary of State and Ofsted no later than
# seven working days before publication (footnote 18: working days).
SEND_BEFORE_PUBLICATION_WORKING_DAYS = 7
# Statutory for a serious case: completed and published within six months of L. A Flowchart 4
# review keeps it as a local target (Appendix 4: "in most cases ... a maximum of 6 months").
PUBLISHED_WITHIN_MONTHS = 6
# Published reports or information stay publicly available for at least one year.
PUBLISHED_FOR_MONTHS = 12
# Local target: the reviewer answers a written supervision request within ten working days.
PROGRESS_RETURN_WORKING_DAYS = 10
# Supervision "every N weeks" counts N x 5 working days, so it always falls on a working day.
WORKING_DAYS_A_WEEK = 5
PARTNERS = [p.value for p in Partner]


class ReviewStage(StrEnum):
    TERMS_OF_REFERENCE = "terms_of_reference"  # agreed, endorsed; reviewer commissioned
    REVIEW = "review"  # the reviewer at work, supervised by the CSPR group
    ENDORSEMENT = "endorsement"  # the final report with the partners
    PUBLICATION = "publication"  # sent to the Panel, SoS and Ofsted; published (or not)
    ACTION_PLAN = "action_plan"  # publication settled: waiting for the Board's sign-off
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"  # its case was withdrawn (entered in error, a duplicate)


_T, _R, _E, _P, _A = (ReviewStage.TERMS_OF_REFERENCE, ReviewStage.REVIEW,
                      ReviewStage.ENDORSEMENT, ReviewStage.PUBLICATION, ReviewStage.ACTION_PLAN)
_UNTIL_SETTLED = (_T, _R, _E, _P)
OPEN_AT: dict[LocalReviewStep, tuple[ReviewStage, ...]] = {
    S.INFORM_PANEL: (_T, _R, _E, _P, _A),
    S.TERMS_OF_REFERENCE: (_T,),
    S.TOR_ENDORSEMENT: (_T,),
    S.REVIEWER_COMMISSIONED: (_T,),
    S.REVIEWER_TO_PANEL: (_T, _R, _E, _P, _A),
    S.SUPERVISION_PLAN: (_T, _R),
    S.SUPERVISION_REQUEST: (_R,),
    S.PROGRESS_RETURN: (_R,),
    S.DRAFT_SHARED: (_R,),
    S.LEARNING: _UNTIL_SETTLED,
    S.NATIONAL_REVIEW_INFORMATION: _UNTIL_SETTLED,
    S.FINAL_REPORT: (_R, _E),
    S.REPORT_ENDORSEMENT: (_E,),
    S.REPORT_SENT: (_P,),
    S.PUBLICATION_PLANNED: (_P,),
    S.PUBLICATION_DELAYED: _UNTIL_SETTLED,
    S.PUBLISHED: (_P,),
    S.NOT_PUBLISHED: (_P,),
    S.NOT_PUBLISHED_AGREEMENT: (_P,),
    S.CONSENT: (_T, _R),
    S.FINDINGS_COMMUNICATED: (_A,),
    S.YJB_SUBMISSION: (_P, _A),
}
# Flowchart 4: nothing is sent to the Panel.
PANEL_STEPS = frozenset({S.INFORM_PANEL, S.NATIONAL_REVIEW_INFORMATION, S.REPORT_SENT,
                         S.REVIEWER_TO_PANEL})
# The reviewer's details reach the Panel within this many working days of the commissioning
# (the service's own target: the procedure says only "including the name of any reviewer").
REVIEWER_TO_PANEL_WORKING_DAYS = 5
# The findings reach the relevant parties within this many working days of publication: the
# service's own target (the procedure sets no time).
FINDINGS_WORKING_DAYS = 10


class Due(BaseModel):
    """A task's deadline, as the calendar activity computed it."""

    kind: DeadlineKind
    basis: str  # how it is counted, e.g. "L+5 working days"
    since: ClockPoint | None = None  # what it counts from, where it can be counted again
    due_date: date | None = None
    deadline_at: AwareDatetime | None = None  # the end of the due date in London
    remind_at: AwareDatetime | None = None
    reminded: bool = False
    escalated: bool = False

    def passed_by(self, c: Completion) -> bool:
        if self.due_date is None or self.deadline_at is None:
            return False
        if c.completed_on is not None:
            return c.completed_on > self.due_date
        return c.completed_at >= self.deadline_at


class Task(BaseModel):
    """One step to be done, or the nth of a repeating one (supervision requests, drafts)."""

    step: LocalReviewStep
    number: int | None = None
    due: Due | None = None
    expected_parties: list[str] = Field(default_factory=list)
    parts: list[Completion] = Field(default_factory=list)
    completion: Completion | None = None
    not_required: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def key(self) -> str:
        return self.step.value if self.number is None else f"{self.step.value}#{self.number}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def statutory(self) -> bool:
        return self.due is not None and self.due.kind is DeadlineKind.STATUTORY

    @computed_field  # type: ignore[prop-decorator]
    @property
    def due_date(self) -> date | None:
        return self.due.due_date if self.due else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> StepStatus:
        if self.not_required:
            return StepStatus.NOT_REQUIRED
        if self.completion is not None:
            done = self.parts or [self.completion]
            late = self.due is not None and any(self.due.passed_by(c) for c in done)
            return StepStatus.DONE_LATE if late else StepStatus.DONE
        if self.due is not None and self.due.escalated:
            return StepStatus.OVERDUE
        return StepStatus.PENDING

    @property
    def open(self) -> bool:
        return self.completion is None and not self.not_required

    def part(self, party: str) -> Completion | None:
        return next((p for p in self.parts if p.party == party), None)


class DateNeed(BaseModel):
    """A date the workflow must have the calendar activity compute (never computed here)."""

    key: str
    start: ClockPoint
    working_days: int = 0
    calendar_months: int = 0


class Dated(BaseModel):
    """A date the calendar activity computed for a `DateNeed`."""

    key: str
    due_date: date
    deadline_at: AwareDatetime
    remind_at: AwareDatetime


class ReviewEvent(BaseModel):
    """Something that happened to the review. `detail` never holds personal data."""

    at: AwareDatetime
    kind: EventKind
    task: str | None = None  # the task's key, e.g. "progress_return#2"
    detail: str = ""
    channel: Channel = Channel.SYSTEM
    actor: Actor | None = None

    def case_event(self) -> CaseEvent:
        """As the case's audit trail keeps it (its `step` names Flowcharts 1 and 2 only)."""
        return CaseEvent(at=self.at, kind=self.kind, channel=self.channel, actor=self.actor,
                         detail=" ".join(x for x in (self.task, self.detail) if x))


class ActionPlanState(BaseModel):
    workflow_id: str | None = None
    signed_off_on: date | None = None
    ended_without_sign_off: bool = False

    @property
    def finished(self) -> bool:
        return self.signed_off_on is not None or self.ended_without_sign_off


class Alert(BaseModel):
    kind: EventKind
    task: Task

"""The case's vocabulary: its stages, outcomes, events and the small models its steps are
made of (moved from domain/case.py, which re-exports them).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field, computed_field

from domain.decisions import Actor
from domain.procedure import Clock, DeadlineKind, Parties, Step
from domain.text import control_character


class Stage(StrEnum):
    NOTIFIED = "notified"  # waiting for the MARS team to inform the partners
    REQUESTED = "requested"  # the same, for a request (Flowchart 4)
    SSL_RECOMMENDATION = "ssl_recommendation"
    DSP_DECISION = "dsp_decision"
    DIFFERENCE_OF_OPINION = "difference_of_opinion"
    RAPID_REVIEW = "rapid_review"
    AWAITING_PANEL_RESPONSE = "awaiting_panel_response"
    # The Panel declined the national review the partners recommended: they decide whether to
    # undertake an LCSPR instead (from procedure r5; issue 9, item 5(a)).
    LOCAL_REVIEW_DECISION = "local_review_decision"
    LOCAL_REVIEW = "local_review"
    # Over but for statutory notifications still to be made: it closes when they are.
    STATUTORY_NOTICES = "statutory_notices"
    CLOSED = "closed"


class Outcome(StrEnum):
    CRITERIA_NOT_MET = "criteria_not_met"
    LOCAL_REVIEW = "local_review"
    NATIONAL_REVIEW = "national_review"
    NO_FURTHER_REVIEW = "no_further_review"
    REVIEW_NOT_AGREED = "review_not_agreed"  # a request the partners decided against
    # The death of a care leaver aged 18 or over: Ofsted is notified, no rapid review is needed.
    NOTICES_ONLY = "notices_only"
    # Entered in error or a confirmed duplicate: the MARS team withdrew it (issue 9).
    WITHDRAWN = "withdrawn"


class StepStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    DONE_LATE = "done_late"
    OVERDUE = "overdue"
    NOT_REQUIRED = "not_required"


class EventKind(StrEnum):
    NOTIFIED = "notified"  # the case opened on a notification: who made it
    REQUESTED = "requested"  # the case opened on a request: who made it
    RECORDED = "recorded"
    REMINDER = "reminder"
    OVERDUE = "overdue"
    STAGE = "stage"
    DIFFERENCE_OF_OPINION = "difference_of_opinion"
    SIGNAL_REJECTED = "signal_rejected"
    POSSIBLE_DUPLICATE = "possible_duplicate"
    LOCAL_REVIEW_STARTED = "local_review_started"  # the LCSPR's workflow id
    LOCAL_REVIEW_ENDED = "local_review_ended"  # how it ended: completed, cancelled, ...
    # Differences of opinion (domain.differences): detail is the id and level, never the text.
    DIFFERENCE_RAISED = "difference_raised"
    DIFFERENCE_REMINDER = "difference_reminder"
    DIFFERENCE_ESCALATED = "difference_escalated"
    DIFFERENCE_OVERDUE = "difference_overdue"
    DIFFERENCE_RESOLVED = "difference_resolved"
    DEADLINE_MOVED = "deadline_moved"  # a bank holiday added or removed moved a due date
    LETTERS_REQUESTED = "letters_requested"  # the MARS team asked the service to send them
    LETTERS_SENT = "letters_sent"  # a step's letters e-mailed to everyone (counts only)
    MAIL_FAILED = "mail_failed"  # e-mail that did not reach everyone: the MARS team acts
    PARALLEL_FACTS = "parallel_facts"  # the facts for Appendix 3's suggestions recorded
    PARALLEL_PROCESS = "parallel_process"  # another process (Appendix 3) recorded or updated
    # The case store could not take the case (a refused value, the store down): the case goes
    # on and the projection is tried again; restored once the store has the whole case.
    # The MARS team's word on an e-mail that may not have gone: received, or sent again.
    MAIL_RESOLVED = "mail_resolved"
    PROJECTION_FAILED = "projection_failed"
    PROJECTION_RESTORED = "projection_restored"
    # The MARS team withdrew the case (entered in error, a duplicate): detail names the case
    # it duplicates, if any, never the reason (free text, which may name people).
    WITHDRAWN = "withdrawn"
    # The MARS team amended the notification (a date of birth learned later, a child added, a
    # looked after status corrected): detail says what changed by position, never a value.
    NOTIFICATION_AMENDED = "notification_amended"
    # A decision's rationale told to the family (domain.families): detail names the decision
    # only (who was told and how are free text); and the reminder while one is not.
    FAMILY_COMMUNICATION = "family_communication"
    FAMILY_REMINDER = "family_reminder"


class Channel(StrEnum):
    """How an event reached the case (for the audit trail)."""

    API = "api"  # a validated update, from the REST API or an SDK client
    SIGNAL = "signal"  # a partner system's or an operator's signal
    TIMER = "timer"  # a reminder or an escalation
    SYSTEM = "system"  # the case itself, or a notification whose maker is not known


class StepNotOpen(Exception):
    """The step cannot be recorded at the case's stage, or is already recorded."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


class InvalidRecord(Exception):
    """The record's content is wrong for this case."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def refuse_control_characters(
    message: BaseModel, error: Callable[[str, str], Exception] = InvalidRecord,
) -> None:
    """`error(field, reason)` for the first text of a new message (its record, its actor) that
    holds a control character (domain/text.py). Only where a message is new: an update
    validator (not run on replay); never in `check()`, which handlers run on replay too."""
    if (found := control_character(message)) is not None:
        raise error(*found)


class ClockPoint(BaseModel):
    """When a clock started: a date someone gave, or else the instant it was recorded."""

    on: date | None = None
    at: AwareDatetime | None = None


class DeadlineState(BaseModel):
    clock: Clock
    working_days: int
    kind: DeadlineKind
    due_date: date | None = None
    deadline_at: AwareDatetime | None = None  # end of the due date in London
    remind_at: AwareDatetime | None = None
    reminded: bool = False
    escalated: bool = False

    def passed_by(self, on: date | None, at: datetime) -> bool:
        if self.due_date is None or self.deadline_at is None:
            return False
        return on > self.due_date if on is not None else at >= self.deadline_at


class Completion(BaseModel):
    party: str | None = None
    completed_on: date | None = None  # given by the person recording, for a late entry
    completed_at: AwareDatetime  # when it entered the case


class StepState(BaseModel):
    step: Step
    statutory: bool
    parties: Parties
    deadlines: list[DeadlineState]
    expected_parties: list[str] = Field(default_factory=list)
    parts: list[Completion] = Field(default_factory=list)
    completion: Completion | None = None
    not_required: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def due_date(self) -> date | None:
        dates = [d.due_date for d in self.deadlines if d.due_date is not None]
        return min(dates) if dates else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> StepStatus:
        if self.not_required:
            return StepStatus.NOT_REQUIRED
        if self.completion is not None:
            # A step each partner or agency records is late if any of them was late.
            done = self.parts or [self.completion]
            late = any(d.passed_by(c.completed_on, c.completed_at)
                       for c in done for d in self.deadlines)
            return StepStatus.DONE_LATE if late else StepStatus.DONE
        if any(d.escalated for d in self.deadlines):
            return StepStatus.OVERDUE
        return StepStatus.PENDING

    @property
    def open(self) -> bool:
        return self.completion is None and not self.not_required

    def part(self, party: str) -> Completion | None:
        return next((p for p in self.parts if p.party == party), None)


class CaseEvent(BaseModel):
    """Something that happened to the case. `detail` never holds personal data."""

    at: AwareDatetime
    kind: EventKind
    step: Step | None = None
    detail: str = ""
    channel: Channel = Channel.SYSTEM
    actor: Actor | None = None


class DueDate(BaseModel):
    """A step's due date on one clock, as the calendar computed it."""

    step: Step
    due_date: date
    deadline_at: AwareDatetime
    remind_at: AwareDatetime


class Alert(BaseModel):
    """A reminder or an escalation that has come due."""

    kind: EventKind
    step: Step
    deadline: DeadlineState

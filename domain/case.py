"""A case as a state machine: which step is open, what a record changes.

Two kinds of case share it: a notification of a serious incident (Flowcharts 1 and 2) and a
request for a CSPR where the serious-case definition is not met (Flowchart 4: the partners are
informed, the SSLs recommend, the partners decide). Either may end in an LCSPR, which the
workflow runs as a child; the case closes when it ends.

Pure and deterministic: the workflow feeds it records and the time (`workflow.now()`), and
carries out the effects it returns (due dates to compute, events to record).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from domain.calendar import latest_london_date, london_date
from domain.case_corrections import AmendmentMessage as AmendmentMessage
from domain.case_corrections import AmendmentRecord as AmendmentRecord
from domain.case_corrections import NotificationAmendment as NotificationAmendment
from domain.case_corrections import Withdrawal as Withdrawal
from domain.case_corrections import WithdrawalMessage as WithdrawalMessage
from domain.case_corrections import WithdrawalRecord as WithdrawalRecord
from domain.case_corrections import _child_changes
from domain.case_notices import ADULT_AGE as ADULT_AGE
from domain.case_notices import CARE_LEAVER_NOTICE_AGE as CARE_LEAVER_NOTICE_AGE
from domain.case_notices import OPTIONAL_STEPS as OPTIONAL_STEPS
from domain.case_notices import Notices as Notices
from domain.case_notices import statutory_notices as statutory_notices
from domain.case_types import Alert as Alert
from domain.case_types import CaseEvent as CaseEvent
from domain.case_types import Channel as Channel
from domain.case_types import ClockPoint as ClockPoint
from domain.case_types import Completion as Completion
from domain.case_types import DeadlineState as DeadlineState
from domain.case_types import DueDate as DueDate
from domain.case_types import EventKind as EventKind
from domain.case_types import InvalidRecord as InvalidRecord
from domain.case_types import Outcome as Outcome
from domain.case_types import Stage as Stage
from domain.case_types import StepNotOpen as StepNotOpen
from domain.case_types import StepState as StepState
from domain.case_types import StepStatus as StepStatus
from domain.case_types import refuse_control_characters as refuse_control_characters
from domain.decisions import (
    Actor,
    AgencyReport,
    AgencyRequests,
    Decision,
    DecisionMessage,
    DspDecision,
    HomeOfficeContribution,
    InformPartners,
    LocalReviewDecision,
    PanelDecision,
    PanelInformation,
    PanelNotification,
    PanelResponse,
    RapidReviewMeeting,
    RapidReviewOutcome,
    RapidReviewReport,
    RapidReviewSignoff,
    RapidReviewSubmission,
    RecordBase,
    SslRecommendation,
    StatutoryNotice,
    StepRecord,
    WellbeingSessions,
)
from domain.differences import (
    Difference,
    DifferenceAlert,
    DifferenceAlertKind,
    DifferenceNotOpen,
    Differences,
    EscalateDifference,
    Level,
    RaiseDifference,
    ResolveDifference,
    Subject,
)
from domain.families import Families, FamilyCommunication, FamilyDecision
from domain.notification import Child, Notification
from domain.parallel import ParallelReviews
from domain.procedure import (
    Clock,
    Parties,
    Partner,
    Procedure,
    Step,
    procedure,
)
from domain.request import ReviewRequest
from domain.reviews import ReviewKind
from domain.service_rules import ServiceRules
from domain.trail import Trail

_AFTER_SUBMISSION = (Stage.RAPID_REVIEW, Stage.AWAITING_PANEL_RESPONSE,
                     Stage.LOCAL_REVIEW_DECISION, Stage.LOCAL_REVIEW)
# The stages at which each step may be recorded (Flowcharts 1 and 2).
OPEN_AT: dict[Step, tuple[Stage, ...]] = {
    Step.INFORM_PARTNERS: (Stage.NOTIFIED, Stage.REQUESTED),
    Step.SSL_RECOMMENDATION: (Stage.SSL_RECOMMENDATION,),
    Step.DSP_DECISION: (Stage.DSP_DECISION, Stage.DIFFERENCE_OF_OPINION),
    Step.PANEL_NOTIFICATION: (Stage.RAPID_REVIEW,),
    Step.AGENCY_REQUESTS: (Stage.RAPID_REVIEW,),
    # A late report is still taken after the submission, or the gap stays overdue for good.
    Step.AGENCY_REPORTS: _AFTER_SUBMISSION,
    Step.RAPID_REVIEW_MEETING: (Stage.RAPID_REVIEW,),
    Step.RAPID_REVIEW_REPORT: (Stage.RAPID_REVIEW,),
    Step.RAPID_REVIEW_SIGNOFF: (Stage.RAPID_REVIEW,),
    Step.WELLBEING_SESSIONS: _AFTER_SUBMISSION,
    Step.RAPID_REVIEW_SUBMISSION: (Stage.RAPID_REVIEW,),
    Step.PANEL_RESPONSE: (Stage.AWAITING_PANEL_RESPONSE, Stage.LOCAL_REVIEW),
    Step.LOCAL_REVIEW_DECISION: (Stage.LOCAL_REVIEW_DECISION,),
    # Whenever the Panel may still answer (and asked for more: `not_required` until it does).
    Step.PANEL_INFORMATION: (Stage.AWAITING_PANEL_RESPONSE, Stage.LOCAL_REVIEW),
    # The statutory notifications are due whatever the case's stage, and hold its closing.
    **{step: tuple(s for s in Stage if s is not Stage.CLOSED) for step in (
        Step.NOTIFY_SECRETARY_OF_STATE, Step.NOTIFY_OFSTED, Step.HOME_OFFICE_CONTRIBUTION,
        Step.NOTIFY_HOME_OFFICE)},
}
_NOTICES = (Step.NOTIFY_SECRETARY_OF_STATE, Step.NOTIFY_OFSTED, Step.NOTIFY_HOME_OFFICE)
# A partner's clock may run a little ahead of Temporal's: "now" from them is not the future.
CLOCK_SKEW = timedelta(minutes=5)

_RAPID_REVIEW_STEPS = (
    Step.PANEL_NOTIFICATION, Step.AGENCY_REQUESTS, Step.AGENCY_REPORTS,
    Step.RAPID_REVIEW_MEETING, Step.RAPID_REVIEW_REPORT, Step.RAPID_REVIEW_SIGNOFF,
    Step.WELLBEING_SESSIONS, Step.RAPID_REVIEW_SUBMISSION, Step.PANEL_RESPONSE,
    Step.LOCAL_REVIEW_DECISION, Step.PANEL_INFORMATION,
)
_PARTNERS = [p.value for p in Partner]


class CaseState(Trail[CaseEvent]):
    case_id: str
    kind: ReviewKind = ReviewKind.SERIOUS_INCIDENT
    procedure_version: str
    notification: Notification | None = None  # a serious incident's (Doc 1)
    request: ReviewRequest | None = None  # a request's (Flowchart 4)
    stage: Stage = Stage.NOTIFIED
    outcome: Outcome | None = None
    clock_dates: dict[Clock, date] = Field(default_factory=dict)
    # Where each clock started, to count its working days again on a changed calendar.
    clock_points: dict[Clock, ClockPoint] = Field(default_factory=dict)
    steps: list[StepState]
    records: list[StepRecord] = Field(default_factory=list)
    # Clock L: when the LCSPR was decided on, and by whom (the child workflow's input).
    local_review_decided: ClockPoint | None = None
    local_review_decided_by: Actor | None = None
    # The LCSPR runs as a child workflow and the case closes when it ends (the workflow sets
    # this; a case started before it waits at local_review, as it always did).
    local_review_child: bool = False
    # The LCSPR starts when the rapid review meeting decides on it (clock L), not days later at
    # the submission (issue 9, item 3; the workflow sets this, patch "lcspr-at-decision").
    local_review_at_decision: bool = False
    # The audit event of an agency's report names the agency (issue 9, "Bugs found"; the
    # workflow sets this, patch "agency-report-detail"; cases started before keep "").
    agency_in_detail: bool = False
    differences: Differences = Field(default_factory=Differences)
    # The service's own rules the case opened under (domain.service_rules; its input's).
    service_rules: ServiceRules = Field(default_factory=ServiceRules)
    # The family told of each decision, and the decisions not yet told (domain.families).
    families: Families = Field(default_factory=Families)
    # The other processes alongside the review (Appendix 3): facts, and each one's record.
    parallel: ParallelReviews = Field(default_factory=ParallelReviews)
    # The steps whose letters the service is sending: done when they have gone to everyone.
    letters_in_flight: list[Step] = Field(default_factory=list)
    # The MARS team's withdrawal of a case entered in error or a duplicate (outcome withdrawn).
    withdrawal: WithdrawalRecord | None = None
    # The MARS team's amendments of the notification, oldest first (issue 9).
    amendments: list[AmendmentRecord] = Field(default_factory=list)
    # How the change being applied arrived, stamped on the events it makes.
    _source: tuple[Channel, Actor | None] = PrivateAttr(default=(Channel.SYSTEM, None))

    @model_validator(mode="after")
    def _made_one_way(self) -> CaseState:
        if (self.notification is None) == (self.request is None):
            raise ValueError("a case opens on a notification or on a request, not both")
        return self

    @classmethod
    def open_case(cls, case_id: str, proc: Procedure, notification: Notification) -> CaseState:
        case = cls(case_id=case_id, procedure_version=proc.version,
                   notification=notification, steps=_steps(proc))
        notices = statutory_notices(notification)
        for step in (Step.NOTIFY_SECRETARY_OF_STATE, Step.NOTIFY_OFSTED):
            if case.has_step(step):
                case.step(step).not_required = step not in notices.required
        if notices.only and case.has_step(Step.NOTIFY_OFSTED):
            # "The death of a care leaver does not require a rapid review or local child
            # safeguarding practice review" - but under 18 the criteria are still considered,
            # so only a notification of care leavers aged 18 or over skips Flowcharts 1 and 2.
            for state in case.steps:
                if state.step not in OPTIONAL_STEPS:
                    state.not_required = True
            case.stage = Stage.STATUTORY_NOTICES
            case.outcome = Outcome.NOTICES_ONLY
        return case

    @classmethod
    def open_request(cls, case_id: str, proc: Procedure, request: ReviewRequest) -> CaseState:
        return cls(case_id=case_id, kind=ReviewKind.REQUEST, procedure_version=proc.version,
                   request=request, stage=Stage.REQUESTED, steps=_steps(proc))

    # -- reading -----------------------------------------------------------------------

    @property
    def received_at(self) -> datetime:
        """When the MARS team received the notification or the request (clock R)."""
        made = self.notification or self.request
        assert made is not None, "a case has a notification or a request"
        return made.received_at

    @property
    def la_aware_at(self) -> datetime:
        """When the local authority became aware (clock A): given, or receipt."""
        given = self.notification.la_aware_at if self.notification is not None else None
        return given or self.received_at

    @property
    def children(self) -> list[Child]:
        made = self.notification or self.request
        return list(made.children) if made is not None else []

    def has_step(self, step: Step) -> bool:
        return any(s.step == step for s in self.steps)

    def step(self, step: Step) -> StepState:
        return next(s for s in self.steps if s.step == step)

    @property
    def closed(self) -> bool:
        return self.stage is Stage.CLOSED

    @property
    def overdue(self) -> bool:
        return not self.closed and (any(s.status is StepStatus.OVERDUE for s in self.steps)
                                    or self.differences.overdue)

    def next_deadline(self) -> datetime | None:
        """The earliest deadline of an open step that has not yet passed."""
        if self.closed:
            return None
        pending = [d.deadline_at for s in self.steps if s.open for d in s.deadlines
                   if d.deadline_at is not None and not d.escalated]
        return min(pending) if pending else None

    def dsp_decisions(self) -> dict[str, DspDecision]:
        latest: dict[str, DspDecision] = {}
        for r in self.records:
            if isinstance(r, DspDecision):
                latest[r.partner.value] = r
        return latest

    def meeting(self) -> RapidReviewMeeting | None:
        return next((r for r in self.records if isinstance(r, RapidReviewMeeting)), None)

    # -- deadlines ---------------------------------------------------------------------

    def set_due_dates(self, clock: Clock, clock_date: date, due: list[DueDate]) -> None:
        """Take the due dates the calendar activity computed for one clock."""
        self.clock_dates[clock] = clock_date
        for computed in due:
            for d in self.step(computed.step).deadlines:
                if d.clock is clock:
                    d.due_date = computed.due_date
                    d.deadline_at = computed.deadline_at
                    d.remind_at = computed.remind_at

    def recount(self, clock: Clock, due: list[DueDate], now: datetime, why: str) -> None:
        """Take one clock's due dates counted again on a changed calendar (a bank holiday added
        or removed). Only open steps move: a step done keeps the deadline it was judged by. A
        deadline that moves is reminded and escalated afresh from its new date (at once if that
        has passed: a day removed can make a step overdue), never twice for the same lateness."""
        with self._from(Channel.SYSTEM, None):
            for computed in due:
                state = self.step(computed.step)
                if not state.open:
                    continue
                for d in state.deadlines:
                    if d.clock is not clock or d.due_date == computed.due_date:
                        continue
                    self._event(now, EventKind.DEADLINE_MOVED, state.step,
                                f"{d.kind.value} deadline {d.due_date} -> {computed.due_date} "
                                f"({why})")
                    d.due_date = computed.due_date
                    d.deadline_at = computed.deadline_at
                    d.remind_at = computed.remind_at
                    # Told again only of what is still to come: a step still overdue on its new
                    # date is not escalated a second time.
                    if computed.deadline_at > now:
                        d.escalated = False
                        d.reminded = False

    def deadline_moved(self, now: datetime, step: Step | None, detail: str) -> None:
        with self._from(Channel.SYSTEM, None):
            self._event(now, EventKind.DEADLINE_MOVED, step, detail)

    def set_target_days(self, step: Step, working_days: int) -> None:
        """A step whose target is the service's own, set by configuration for this case."""
        if self.has_step(step):
            for d in self.step(step).deadlines:
                d.working_days = working_days

    def own_working_days(self, clock: Clock) -> dict[Step, int]:
        """The steps on `clock` whose working days the case holds instead of its procedure's
        (a target set by configuration: `set_target_days`)."""
        proc = procedure(self.procedure_version)
        own: dict[Step, int] = {}
        for s in self.steps:
            given = {d.clock: d.working_days for d in proc.spec(s.step).deadlines}
            for d in s.deadlines:
                if d.clock is clock and d.working_days != given.get(clock):
                    own[s.step] = d.working_days
        return own

    def open_steps_on_clock(self, clock: Clock) -> list[Step]:
        return [s for s in self.steps_on_clock(clock) if self.step(s).open]

    def steps_on_clock(self, clock: Clock) -> list[Step]:
        # A statutory notification the case does not call for has no due date to show.
        return [s.step for s in self.steps if any(d.clock is clock for d in s.deadlines)
                and not (s.not_required and s.step in OPTIONAL_STEPS)]

    def due_alerts(self, now: datetime) -> list[Alert]:
        """Reminders and escalations due at `now`, each marked so it fires only once."""
        alerts: list[Alert] = []
        if self.closed:
            return alerts
        for s in self.steps:
            if not s.open:
                continue
            for d in s.deadlines:
                if d.deadline_at is None:
                    continue
                if not d.escalated and now >= d.deadline_at:
                    # Principle 3: a passed deadline marks the step overdue and escalates; the
                    # case keeps waiting for the record. No reminder once it is overdue.
                    d.escalated = d.reminded = True
                    alerts.append(Alert(kind=EventKind.OVERDUE, step=s.step, deadline=d))
                elif not d.reminded and d.remind_at is not None and now >= d.remind_at:
                    d.reminded = True
                    alerts.append(Alert(kind=EventKind.REMINDER, step=s.step, deadline=d))
        with self._from(Channel.TIMER, None):
            for a in alerts:
                self._event(now, a.kind, a.step,
                            f"{a.deadline.kind.value} deadline {a.deadline.due_date}")
        return alerts

    def next_alert_at(self) -> datetime | None:
        if self.closed:
            return None
        times: list[datetime] = []
        for s in self.steps:
            if not s.open:
                continue
            for d in s.deadlines:
                if d.deadline_at is not None and not d.escalated:
                    times.append(d.deadline_at)
                if d.remind_at is not None and not d.reminded:
                    times.append(d.remind_at)
        return min(times) if times else None

    # -- recording ---------------------------------------------------------------------

    def check(self, record: StepRecord, now: datetime) -> None:
        """Raise StepNotOpen or InvalidRecord if `record` cannot be made now."""
        step = Step(record.step)
        if not self.has_step(step):
            raise StepNotOpen(step.value, f"not a step of a {self.kind.value.replace('_', ' ')} "
                                          "case")
        state = self.step(step)
        stage = self.stage

        def require(ok: bool, reason: str) -> None:
            if not ok:
                raise StepNotOpen(step.value, reason)

        require(not self.closed, "the case is closed")
        # Dates are checked against clock R, known once the case has opened (milliseconds).
        require(Clock.RECEIVED in self.clock_dates, "the case is still opening; try again")
        self._check_dates(record, now)
        if step is not Step.DSP_DECISION:
            require(state.completion is None, "already recorded")
            # The partners' LCSPR decision applies once the Panel declines (its stage says);
            # the information for the Panel once it asks (checked below).
            require(not state.not_required or step in (Step.HOME_OFFICE_CONTRIBUTION,
                                                       Step.LOCAL_REVIEW_DECISION,
                                                       Step.PANEL_INFORMATION),
                    "not required in this case" if step in OPTIONAL_STEPS else "already recorded")

        require(stage in OPEN_AT[step] or (
            # The local authority's duty does not wait for the DSPs to agree (from r4).
            step is Step.PANEL_NOTIFICATION and stage is Stage.DIFFERENCE_OF_OPINION
            and procedure(self.procedure_version).panel_notification_in_dispute),
            f"not open at stage {stage}")

        match record:
            case SslRecommendation(recommend_panel_notification=None) \
                    if self.kind is ReviewKind.SERIOUS_INCIDENT:
                raise InvalidRecord("recommend_panel_notification", "Field required")
            case SslRecommendation(recommend_panel_notification=True) \
                    if self.kind is ReviewKind.REQUEST:
                raise InvalidRecord("recommend_panel_notification",
                                    "a request is not notified to the Panel; a case that meets "
                                    "the serious-case definition comes as a notification")
            case DspDecision(partner=partner) if stage is Stage.DSP_DECISION:
                # At DIFFERENCE_OF_OPINION a partner records again (Panel guidance 2.4).
                require(state.part(partner.value) is None,
                        f"already recorded for {partner.value}")
            case PanelNotification(notified_at=notified_at):
                self._check_instant("notified_at", notified_at, now)
            case StatutoryNotice(sent_at=sent_at):
                self._check_instant("sent_at", sent_at, now)
            case LocalReviewDecision(decided_on=decided_on):
                self._check_date("decided_on", decided_on, now)
            case PanelInformation(sent_at=sent_at):
                require(not state.not_required, "no further information is owed to the Panel "
                                                "(none asked for, or the Panel has answered)")
                self._check_instant("sent_at", sent_at, now)
            case AgencyReport(agency=agency):
                require(self.step(Step.AGENCY_REQUESTS).completion is not None,
                        "no agency has been asked for a report yet")
                key = _agency_key(state, agency)
                if key is None:
                    raise InvalidRecord("agency", "was not asked for a report in this case")
                require(state.part(key) is None, "this agency's report is already recorded")
            case RapidReviewMeeting():
                require(self.step(Step.AGENCY_REQUESTS).completion is not None,
                        "the agencies have not been asked for reports yet")
            case RapidReviewReport():
                require(self.step(Step.RAPID_REVIEW_MEETING).completion is not None,
                        "the rapid review meeting is not recorded yet")
            case RapidReviewSignoff(partner=partner):
                require(self.step(Step.RAPID_REVIEW_REPORT).completion is not None,
                        "the rapid review report is not recorded yet")
                require(state.part(partner.value) is None,
                        f"already signed off by {partner.value}")
            case RapidReviewSubmission():
                require(self.step(Step.RAPID_REVIEW_SIGNOFF).completion is not None,
                        "the DSPs have not all signed the report off")
                require(self.step(Step.PANEL_NOTIFICATION).completion is not None,
                        "the Panel has not been notified of the incident")

    def _check_instant(self, field: str, at: datetime, now: datetime) -> None:
        if at > now + CLOCK_SKEW:
            raise InvalidRecord(field, "is in the future")
        if at < self.received_at:
            raise InvalidRecord(field, f"is before the {self._made_word} was received")

    def _check_dates(self, record: RecordBase, now: datetime) -> None:
        self._check_date("completed_on", record.completed_on, now)

    def _check_date(self, field: str, on: date | None, now: datetime) -> None:
        if on is None:
            return
        if on > latest_london_date(now):
            raise InvalidRecord(field, "is in the future")
        if on < self.clock_dates[Clock.RECEIVED]:
            raise InvalidRecord(field, f"is before the {self._made_word} was received")

    def apply(
        self, record: StepRecord, now: datetime, channel: Channel = Channel.API,
        actor: Actor | None = None,
    ) -> list[tuple[Clock, ClockPoint]]:
        """Record a validated `record` at `now`; returns the clocks it starts."""
        with self._from(channel, actor):
            clocks = self._apply(record, now)
        # A decision that closes the case at once (criteria not met) is owed to the family as
        # any other: noted now, in the state the record's own projection writes.
        self._note_family_decisions()
        return clocks

    @contextmanager
    def _from(self, channel: Channel, actor: Actor | None) -> Iterator[None]:
        self._source = (channel, actor)
        try:
            yield
        finally:
            self._source = (Channel.SYSTEM, None)

    @property
    def _made_word(self) -> str:
        return "request" if self.kind is ReviewKind.REQUEST else "notification"

    def _apply(self, record: StepRecord, now: datetime) -> list[tuple[Clock, ClockPoint]]:
        self.records.append(record)
        step = Step(record.step)
        state = self.step(step)
        done = Completion(completed_on=record.completed_on, completed_at=now)
        detail = getattr(getattr(record, "partner", None), "value", "")
        if isinstance(record, AgencyReport) and self.agency_in_detail:
            detail = _agency_key(state, record.agency) or record.agency
        self._event(now, EventKind.RECORDED, step, detail)
        clocks: list[tuple[Clock, ClockPoint]] = []

        match record:
            case InformPartners():
                state.completion = done
                self._move(now, Stage.SSL_RECOMMENDATION)
            case SslRecommendation():
                state.completion = done
                self._move(now, Stage.DSP_DECISION)
            case DspDecision(partner=partner):
                state.parts = [p for p in state.parts if p.party != partner.value]
                state.parts.append(done.model_copy(update={"party": partner.value}))
                clocks += self._dsp_outcome(state, now)
            case PanelNotification(notified_at=notified_at):
                state.completion = Completion(completed_at=notified_at)
                clocks.append((Clock.PANEL_NOTIFIED, ClockPoint(at=notified_at)))
            case AgencyRequests(agencies=agencies):
                state.completion = done
                self.step(Step.AGENCY_REPORTS).expected_parties = list(agencies)
            case AgencyReport(agency=agency):
                state.parts.append(done.model_copy(update={"party": _agency_key(state, agency)}))
                self._complete_when_all_parts(state, done)
            case RapidReviewSignoff(partner=partner):
                state.parts.append(done.model_copy(update={"party": partner.value}))
                self._complete_when_all_parts(state, done)
            case WellbeingSessions(relevant=relevant):
                state.completion = done
                state.not_required = not relevant
            case RapidReviewSubmission():
                state.completion = done
                meeting = self.meeting()
                if meeting is not None and meeting.outcome is RapidReviewOutcome.LOCAL_REVIEW:
                    self.outcome = Outcome.LOCAL_REVIEW
                    self._move(now, Stage.LOCAL_REVIEW)
                else:
                    self._move(now, Stage.AWAITING_PANEL_RESPONSE)
            case PanelResponse(decision=decision):
                if decision is PanelDecision.MORE_INFORMATION_REQUESTED:
                    if self.has_step(Step.PANEL_INFORMATION):  # from r5; before, nothing
                        clocks.append(self._information_requested(record.completed_on, now))
                    return clocks
                state.completion = done
                if self.has_step(Step.PANEL_INFORMATION) and \
                        self.step(Step.PANEL_INFORMATION).open:
                    # The Panel's final answer clears what it asked for: nothing more is owed.
                    self.step(Step.PANEL_INFORMATION).not_required = True
                if decision is PanelDecision.NATIONAL_REVIEW:
                    # An LCSPR under way is the partners' to end, not the Panel's: the Panel
                    # is to "discuss with the safeguarding partners the potential scope and
                    # methodology" and to "engage ... to agree the conduct of the review". It
                    # runs on and the case closes when it ends (cases from before it closed).
                    if not self.awaits_local_review:
                        self._close(now, Outcome.NATIONAL_REVIEW)
                elif self.stage is Stage.AWAITING_PANEL_RESPONSE:
                    if self._partners_decide_after_panel():
                        self.step(Step.LOCAL_REVIEW_DECISION).not_required = False
                        self._move(now, Stage.LOCAL_REVIEW_DECISION)
                    else:
                        self._close(now, Outcome.NO_FURTHER_REVIEW)
            case PanelInformation(sent_at=sent_at, completes=completes):
                # Each send is its own record (`records`); the step is done with the last.
                if completes:
                    state.completion = Completion(completed_at=sent_at)
            case LocalReviewDecision(undertake=undertake, decided_on=decided_on):
                state.completion = done.model_copy(update={"completed_on": decided_on})
                if undertake:
                    # Clock L is the partners' decision; the LCSPR starts with it (as the
                    # meeting's decision starts it under "lcspr-at-decision").
                    self._decide_local_review(decided_on, now)
                    self.outcome = Outcome.LOCAL_REVIEW
                    self._move(now, Stage.LOCAL_REVIEW)
                else:
                    self._close(now, Outcome.NO_FURTHER_REVIEW)
            case RapidReviewMeeting(outcome=outcome):
                state.completion = done
                if outcome is RapidReviewOutcome.LOCAL_REVIEW:
                    # Flowchart 2: the meeting takes "the decision as to whether to progress to
                    # a local CSPR"; its date is clock L. The LCSPR starts at the submission.
                    self._decide_local_review(record.completed_on, now)
            case RapidReviewReport():
                state.completion = done
            case StatutoryNotice(sent_at=sent_at):
                state.completion = Completion(completed_at=sent_at)
                if self.stage is Stage.STATUTORY_NOTICES and not self._notices_open():
                    self._move(now, Stage.CLOSED)
            case HomeOfficeContribution():
                state.completion = done
                state.not_required = False  # it applies to this case now
                self.step(Step.NOTIFY_HOME_OFFICE).not_required = False
                point = (ClockPoint(on=record.completed_on) if record.completed_on is not None
                         else ClockPoint(at=now))
                clocks.append((Clock.HOME_OFFICE_NEEDED, point))
        return clocks

    def _information_requested(self, on: date | None, at: datetime) -> tuple[Clock, ClockPoint]:
        """The Panel asks for more information (again): the step opens afresh, due on the
        service's own target counted from the request's date (clock I)."""
        info = self.step(Step.PANEL_INFORMATION)
        info.not_required = False
        info.completion = None
        for d in info.deadlines:
            d.due_date = d.deadline_at = d.remind_at = None
            d.reminded = d.escalated = False
        return Clock.PANEL_INFORMATION_REQUESTED, (ClockPoint(on=on) if on is not None
                                                   else ClockPoint(at=at))

    def _partners_decide_after_panel(self) -> bool:
        """The Panel declined the national review the rapid review recommended, and the case's
        procedure lets the partners then decide on an LCSPR (from r5): "the Child Safeguarding
        Practice Review Panel have considered and concluded a local review may be more
        appropriate" is one of the local criteria."""
        meeting = self.meeting()
        return (self.has_step(Step.LOCAL_REVIEW_DECISION) and meeting is not None
                and meeting.outcome is RapidReviewOutcome.NATIONAL_REVIEW_RECOMMENDED)

    def _notices_open(self) -> bool:
        return any(self.step(s).open for s in _NOTICES if self.has_step(s))

    def _decide_local_review(self, on: date | None, at: datetime) -> None:
        self.local_review_decided = ClockPoint(on=on) if on is not None else ClockPoint(at=at)
        self.local_review_decided_by = self._source[1]

    def _dsp_outcome(self, state: StepState, now: datetime) -> list[tuple[Clock, ClockPoint]]:
        decisions = self.dsp_decisions()
        if len(decisions) < len(_PARTNERS):
            return []
        votes = {d.criteria_met for d in decisions.values()}
        if len(votes) > 1:
            if self.stage is not Stage.DIFFERENCE_OF_OPINION:
                self._event(now, EventKind.DIFFERENCE_OF_OPINION, Step.DSP_DECISION,
                            "the partners disagree on whether the criteria are met")
                self._move(now, Stage.DIFFERENCE_OF_OPINION)
                if self.differences.automatic:
                    self._partners_disagree(now)
            return []
        self._partners_agree(now, votes == {True})
        last = max(state.parts, key=lambda p: p.completed_at)
        state.completion = last.model_copy(update={"party": None})
        request = self.kind is ReviewKind.REQUEST
        if votes == {False}:
            self._close(now, Outcome.REVIEW_NOT_AGREED if request else Outcome.CRITERIA_NOT_MET)
            return []
        # The date of the partners' decision (clock D, or clock L for a request). Given dates
        # are the partners' own; otherwise the day the last decision was recorded.
        given = [p.completed_on for p in state.parts if p.completed_on is not None]
        point = (ClockPoint(on=max(given)) if len(given) == len(state.parts)
                 else ClockPoint(at=last.completed_at))
        if request:
            # Flowchart 4: "If CSPR is agreed" the LCSPR follows at once.
            self.local_review_decided = point
            self.local_review_decided_by = self._source[1]
            self.outcome = Outcome.LOCAL_REVIEW
            self._move(now, Stage.LOCAL_REVIEW)
            return []
        self._move(now, Stage.RAPID_REVIEW)
        return [(Clock.RAPID_REVIEW_DECISION, point)]

    def _complete_when_all_parts(self, state: StepState, done: Completion) -> None:
        recorded = {p.party for p in state.parts}
        if recorded >= set(state.expected_parties):
            state.completion = done

    def _move(self, now: datetime, stage: Stage) -> None:
        self.stage = stage
        self._event(now, EventKind.STAGE, None, stage.value)

    def _close(self, now: datetime, outcome: Outcome) -> None:
        self.outcome = outcome
        if outcome is Outcome.CRITERIA_NOT_MET:
            for step in _RAPID_REVIEW_STEPS:
                if self.has_step(step):  # (the LCSPR decision after the Panel: from r5)
                    self.step(step).not_required = True
        # A statutory notification still due keeps the case open, and chased, until it is made.
        self._move(now, Stage.STATUTORY_NOTICES if self._notices_open() else Stage.CLOSED)

    # -- differences of opinion (procedure, "Differences of opinion") --------------------

    def _partners_disagree(self, now: datetime) -> None:
        # Panel guidance 2.4: where the partners disagree they follow the local dispute
        # resolution process. It starts at the partners' level, not the SSLs': the DSPs are the
        # safeguarding partners, and the SSLs have already made their recommendation (Doc 4
        # Part A), so the difference is already the partners' own.
        request = self.kind is ReviewKind.REQUEST
        summary = ("The partners disagree on whether to undertake a CSPR" if request
                   else "The partners disagree on whether the criteria are met")
        self._raise_difference(
            RaiseDifference(subject=Subject.WHETHER_TO_REVIEW if request else Subject.CRITERIA,
                            summary=summary, targets=self.differences.targets),
            now, None, Step.DSP_DECISION, Level.SAFEGUARDING_PARTNERS)

    def _partners_agree(self, now: datetime, yes: bool) -> None:
        difference = self.differences.open_one(Step.DSP_DECISION)
        if difference is None:
            return
        if self.kind is ReviewKind.REQUEST:
            outcome = "agreed to undertake a CSPR" if yes else "agreed not to undertake a CSPR"
        else:
            outcome = "agreed the criteria are met" if yes else "agreed the criteria are not met"
        self.differences.resolve_automatically(difference, now, f"The partners {outcome}")
        self._event(now, EventKind.DIFFERENCE_RESOLVED, Step.DSP_DECISION,
                    f"{difference.id} {difference.level.value}")

    def check_difference(self) -> None:
        """Raise DifferenceNotOpen if no difference may be raised or changed now."""
        if self.closed:
            raise DifferenceNotOpen("difference_id", "the case is closed")

    def raise_difference(self, request: RaiseDifference, now: datetime,
                         actor: Actor | None, channel: Channel = Channel.API) -> Difference:
        """A person raises a difference of opinion (its target date still to be computed)."""
        self.check_difference()
        with self._from(channel, actor):
            return self._raise_difference(request, now, actor)

    def _raise_difference(self, request: RaiseDifference, now: datetime, by: Actor | None,
                          step: Step | None = None, level: Level = Level.SSL_AND_MARS
                          ) -> Difference:
        difference = self.differences.raise_(request, now, by, step, level)
        self._event(now, EventKind.DIFFERENCE_RAISED, step,
                    f"{difference.id} {difference.subject.value} {difference.level.value}")
        return difference

    def escalate_difference(self, request: EscalateDifference, now: datetime,
                            actor: Actor | None, channel: Channel = Channel.API) -> Difference:
        self.check_difference()
        with self._from(channel, actor):
            difference = self.differences.escalate(request, now, actor)
            self._event(now, EventKind.DIFFERENCE_ESCALATED, difference.step,
                        f"{difference.id} {difference.level.value} escalated_by_person")
        return difference

    def resolve_difference(self, request: ResolveDifference, now: datetime,
                           actor: Actor | None, channel: Channel = Channel.API) -> Difference:
        self.check_difference()
        with self._from(channel, actor):
            difference = self.differences.resolve(request, now, actor)
            self._event(now, EventKind.DIFFERENCE_RESOLVED, difference.step,
                        f"{difference.id} {difference.level.value}")
        return difference

    def difference_alerts(self, now: datetime) -> list[DifferenceAlert]:
        """The differences' reminders, escalations and overdue marks due at `now`, as events."""
        if self.closed:
            return []
        alerts = self.differences.due_alerts(now)
        kinds = {DifferenceAlertKind.REMINDER: EventKind.DIFFERENCE_REMINDER,
                 DifferenceAlertKind.ESCALATED: EventKind.DIFFERENCE_ESCALATED,
                 DifferenceAlertKind.OVERDUE: EventKind.DIFFERENCE_OVERDUE}
        with self._from(Channel.TIMER, None):
            for a in alerts:
                how = " target_passed" if a.kind is DifferenceAlertKind.ESCALATED else (
                    " held" if a.held else "")
                self._event(now, kinds[a.kind], self.differences.get(a.difference_id).step,
                            f"{a.difference_id} {a.level.value} target {a.due_date}{how}")
        return alerts

    def next_difference_alert_at(self) -> datetime | None:
        return None if self.closed else self.differences.next_alert_at()

    # -- the LCSPR, a child workflow of the case -----------------------------------------

    @property
    def awaits_local_review(self) -> bool:
        """The case has decided on an LCSPR and runs it as a child it waits for."""
        if not self.local_review_child:
            return False
        # "As soon as the safeguarding partners have determined that a local review will be
        # carried out, they should inform the Panel, Ofsted and DfE": the LCSPR runs from the
        # meeting's decision, while the rapid review is still being submitted.
        decided = (self.local_review_at_decision and self.local_review_decided is not None
                   and self.stage is Stage.RAPID_REVIEW)
        return self.stage is Stage.LOCAL_REVIEW or decided

    # -- withdrawal (issue 9, "Cases that can be corrected") ---------------------------

    def check_withdraw(self, withdrawal: Withdrawal) -> None:
        """Raise StepNotOpen if the case cannot be withdrawn now, InvalidRecord if the
        withdrawal is wrong for it."""
        if self.closed:
            raise StepNotOpen("withdrawal", "the case is closed")
        if Clock.RECEIVED not in self.clock_dates:
            raise StepNotOpen("withdrawal", "the case is still opening; try again")
        if withdrawal.duplicate_of == self.case_id:
            raise InvalidRecord("duplicate_of", "is this case itself")

    def withdraw(self, withdrawal: Withdrawal, now: datetime, actor: Actor | None) -> None:
        """Close the case as withdrawn: nothing more is due, reminded or sent. Its steps and
        records stay as they were (the audit trail keeps everything)."""
        self.check_withdraw(withdrawal)
        self.withdrawal = WithdrawalRecord(**withdrawal.model_dump(), withdrawn_at=now,
                                           actor=actor)
        with self._from(Channel.API, actor):
            detail = (f"duplicate of {withdrawal.duplicate_of}" if withdrawal.duplicate_of
                      else "entered in error")
            self._event(now, EventKind.WITHDRAWN, None, detail)
            self.outcome = Outcome.WITHDRAWN
            self._move(now, Stage.CLOSED)
        self._note_family_decisions()  # nothing is owed a family for a case withdrawn

    # -- amending the notification (issue 9, "Cases that can be corrected") ----------------

    def amended_notification(self, amendment: NotificationAmendment) -> Notification:
        """The notification as the amendment makes it, checked as a new one is; StepNotOpen if
        the case cannot be amended now, InvalidRecord naming the field if it is wrong."""
        if self.notification is None:
            raise StepNotOpen("amendment", "a request has no notification to amend")
        if self.closed:
            raise StepNotOpen("amendment", "the case is closed")
        if Clock.RECEIVED not in self.clock_dates:
            raise StepNotOpen("amendment", "the case is still opening; try again")
        try:
            amended = Notification.model_validate(
                {**self.notification.model_dump(),
                 "children": [c.model_dump() for c in amendment.children]})
        except ValidationError as e:
            error = e.errors()[0]
            reason = str(error["msg"]).removeprefix("Value error, ")
            field, _, why = reason.partition(": ")
            if not why:
                field = ".".join(str(p) for p in error["loc"]) or "children"
                why = reason
            raise InvalidRecord(field, why) from None
        if amended == self.notification:
            raise InvalidRecord("children", "the amendment changes nothing")
        if len(amended.children) > self.service_rules.max_children:
            # The service's own cap (CSPR_MAX_CHILDREN), not the procedure's.
            raise InvalidRecord("children", f"at most {self.service_rules.max_children} "
                                "children (the service's own limit)")
        if statutory_notices(amended).only != statutory_notices(self.notification).only:
            raise InvalidRecord("children", "the amendment changes whether Flowcharts 1 and 2 "
                                "apply (the statutory notices only): withdraw the case and "
                                "notify it again")
        return amended

    def amend(self, amendment: NotificationAmendment, now: datetime,
              actor: Actor | None) -> list[Step]:
        """Amend the notification and work the statutory notices out again; returns the notices
        newly required, whose due dates are to be computed. A notice already made stays made;
        one no longer required and not made is marked not required."""
        amended = self.amended_notification(amendment)
        before = self.notification
        assert before is not None
        changes = _child_changes(before.children, amended.children)
        was, now_owed = statutory_notices(before).required, statutory_notices(amended).required
        newly: list[Step] = []
        for step in (Step.NOTIFY_SECRETARY_OF_STATE, Step.NOTIFY_OFSTED):
            if not self.has_step(step):
                continue
            state = self.step(step)
            if step in now_owed and state.not_required:
                state.not_required = False
                newly.append(step)
                changes.append(f"{step.value} now required")
            elif step not in now_owed and step in was and state.open:
                state.not_required = True
                changes.append(f"{step.value} no longer required")
        self.notification = amended
        self.amendments.append(AmendmentRecord(
            reason=amendment.reason, changes=changes, children_before=list(before.children),
            amended_at=now, actor=actor))
        with self._from(Channel.API, actor):
            self._event(now, EventKind.NOTIFICATION_AMENDED, None, "; ".join(changes))
            if self.stage is Stage.STATUTORY_NOTICES and not self._notices_open():
                self._move(now, Stage.CLOSED)
        return newly

    def local_review_withdrawn(self, now: datetime, how: str) -> None:
        """The LCSPR of a withdrawn case has ended (`how`: withdrawn, or why not)."""
        self._event(now, EventKind.LOCAL_REVIEW_ENDED, None, how)

    def local_review_started(self, now: datetime, workflow_id: str) -> None:
        self._event(now, EventKind.LOCAL_REVIEW_STARTED, None, workflow_id)

    def local_review_ended(self, now: datetime, how: str) -> None:
        """The LCSPR ended (`how`: completed, or why not): the case closes with it."""
        self._event(now, EventKind.LOCAL_REVIEW_ENDED, None, how)
        self._close(now, Outcome.LOCAL_REVIEW)

    def notified(self, now: datetime, actor: Actor | None) -> None:
        """Open the audit trail with who made the notification (or the request): through the
        API (their token's actor), or the system when no one is named (a case started directly
        on Temporal)."""
        kind = EventKind.REQUESTED if self.kind is ReviewKind.REQUEST else EventKind.NOTIFIED
        with self._from(Channel.API if actor is not None else Channel.SYSTEM, actor):
            self._event(now, kind, None, "")
        if self.outcome is Outcome.NOTICES_ONLY:
            assert self.notification is not None
            if statutory_notices(self.notification).no_abuse_suspected:
                why = ("a looked after child's death with no abuse or neglect suspected - the "
                       "statutory notices only, no rapid review unless the partners consider "
                       "the CSPR criteria")
            else:
                why = ("a care leaver aged 18 or over - Ofsted is notified, no rapid review is "
                       "needed")
            self._event(now, EventKind.STAGE, None, f"{self.stage.value}: {why}")

    def letters_requested(self, now: datetime, step: Step, actor: Actor | None) -> None:
        """The MARS team asked for a step's letters to be sent: the step is done once they
        have reached everyone (`inform_partners`, `agency_requests`)."""
        self.letters_in_flight.append(step)
        with self._from(Channel.API, actor):
            self._event(now, EventKind.LETTERS_REQUESTED, step, "")

    def letters_settled(self, step: Step) -> None:
        if step in self.letters_in_flight:
            self.letters_in_flight.remove(step)

    def mail_sent(self, now: datetime, step: Step | None, detail: str) -> None:
        self._event(now, EventKind.LETTERS_SENT, step, detail)

    def mail_failed(self, now: datetime, step: Step | None, detail: str) -> None:
        """E-mail that did not reach everyone it should: shown on the case for the MARS team
        (who is missing from the directory, what failed or may not have gone)."""
        self._event(now, EventKind.MAIL_FAILED, step, detail)

    def flag_possible_duplicates(self, now: datetime, case_ids: list[str]) -> None:
        """Tell the MARS team this may be a case they already have (same child and incident)."""
        self._event(now, EventKind.POSSIBLE_DUPLICATE, None, " ".join(case_ids))

    # -- the family told of each decision (domain.families) ------------------------------

    def family_reminders(self, now: datetime) -> list[FamilyDecision]:
        """Note the decisions made (the partners', the rapid review's; the final report's comes
        from the LCSPR's signal), and remind the MARS team of each not yet told to the family:
        events, e-mailed as a step's reminder is."""
        families = self.families
        if not families.enabled:
            return []
        self._note_family_decisions()
        if self.closed:
            return []
        due = families.due_reminders(now)
        with self._from(Channel.TIMER, None):
            for decision in due:
                self._event(now, EventKind.FAMILY_REMINDER, None,
                            f"{decision.value}: not yet told to the family")
        return due

    def _note_family_decisions(self) -> None:
        """The decisions made so far, each owed to the family until told; a closed case's too
        (criteria not met): noted in the state only (no event, no command), so its stored copy
        lists them and the family's record is taken there (`record_family_after_close`)."""
        families = self.families
        if not families.enabled:
            return
        if self.outcome is Outcome.WITHDRAWN:
            families.owed = []  # entered in error or a duplicate: nothing is owed
            return
        for step, decision in ((Step.DSP_DECISION, FamilyDecision.PARTNERS_DECISION),
                               (Step.RAPID_REVIEW_MEETING, FamilyDecision.RAPID_REVIEW)):
            if self.has_step(step) and (done := self.step(step).completion) is not None:
                families.decided(decision, done.completed_at)

    def next_family_reminder_at(self) -> datetime | None:
        return None if self.closed or not self.families.enabled else \
            self.families.next_reminder_at()

    def check_family(self, record: FamilyCommunication, now: datetime) -> None:
        """StepNotOpen if the case cannot take it now; InvalidFamilyRecord naming the field."""
        if not self.families.enabled:
            raise StepNotOpen("family_communication", "this case was opened before family "
                              "communications were recorded")
        if self.closed:
            raise StepNotOpen("family_communication", "the case is closing; try again in a "
                              "moment (a closed case takes the record once it has ended)")
        if Clock.RECEIVED not in self.clock_dates:
            raise StepNotOpen("family_communication", "the case is still opening; try again")
        self.families.check(record, now, self.clock_dates[Clock.RECEIVED])

    def record_family_after_close(self, record: FamilyCommunication, now: datetime,
                                  actor: Actor | None) -> None:
        """The family told of a decision once the case has closed and its workflow ended (its
        stored copy is then the case's record: the store takes it). StepNotOpen if it cannot,
        InvalidFamilyRecord naming the field."""
        if not self.families.enabled:
            raise StepNotOpen("family_communication", "this case was opened before family "
                              "communications were recorded")
        if not self.closed:
            raise StepNotOpen("family_communication", "the case is still running: its record "
                              "is taken by the case")
        if self.outcome is Outcome.WITHDRAWN:
            raise StepNotOpen("family_communication", "the case was withdrawn (entered in "
                              "error or a duplicate): no decision is owed to a family")
        self.families.check(record, now, self.clock_dates.get(Clock.RECEIVED,
                                                              london_date(self.received_at)))
        self.record_family(record, now, actor)

    def record_family(self, record: FamilyCommunication, now: datetime,
                      actor: Actor | None) -> None:
        self.families.record(record, now, actor)
        with self._from(Channel.API, actor):
            self._event(now, EventKind.FAMILY_COMMUNICATION, None,
                        f"{record.decision.value}: told to the family")

    def reject_signal(
        self, now: datetime, step: Step | None, reason: str, actor: Actor | None
    ) -> None:
        with self._from(Channel.SIGNAL, actor):
            self._event(now, EventKind.SIGNAL_REJECTED, step, reason)

    def _event(self, now: datetime, kind: EventKind, step: Step | None, detail: str) -> None:
        channel, actor = self._source
        self.events.append(CaseEvent(at=now, kind=kind, step=step, detail=detail,
                                     channel=channel, actor=actor))


def _steps(proc: Procedure) -> list[StepState]:
    return [
        StepState(
            step=spec.step,
            statutory=spec.statutory,
            parties=spec.parties,
            deadlines=[DeadlineState(clock=d.clock, working_days=d.working_days, kind=d.kind)
                       for d in spec.deadlines],
            expected_parties=_PARTNERS if spec.parties is Parties.EACH_PARTNER else [],
            not_required=spec.conditional,
        )
        for spec in proc.steps
    ]


def parse_decision(message: DecisionMessage) -> Decision:
    """Validate a message; InvalidRecord names the first bad field, never its value."""
    try:
        return Decision.model_validate(message.model_dump())
    except ValidationError as e:
        error = e.errors()[0]
        # The location is ("record", <step>, field...) for a record: keep the field.
        skip = {"record", str(message.record.get("step"))}
        field = ".".join(str(p) for p in error["loc"] if p not in skip) or "record"
        raise InvalidRecord(field, str(error["msg"])) from None


def _agency_key(state: StepState, agency: str) -> str | None:
    """The agency's name as it was asked, matched without regard to case."""
    return next((a for a in state.expected_parties if a.casefold() == agency.casefold()), None)

"""An action plan as a state machine: its actions, reviews at a cadence, reminders and
escalations, oversight, scrutiny, and the final sign-off at the Children's MARS Board.

Pure and deterministic: the workflow feeds it records and the time (`workflow.now()`), computes
the due dates it asks for (`DateNeeded`) with the calendar activity, and hands them back.
The records themselves, and their content rules, are in `domain.action_plan_records`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field, PrivateAttr, computed_field

from domain.action_plan_records import (
    AddAction,
    Audience,
    AuditStatus,
    BoardSignoff,
    ChangeAction,
    CloseAction,
    CompleteAction,
    NoEqualityAction,
    Oversight,
    OversightTransfer,
    PlanRecord,
    PlanReview,
    PlanStep,
    ScrutinyAudit,
)
from domain.calendar import CalendarChanged, latest_london_date
from domain.case import CaseEvent, Channel, ClockPoint, EventKind, InvalidRecord, StepNotOpen
from domain.decisions import Actor
from domain.notification import Text
from domain.procedure import Partner
from domain.reviews import ActionPlanInput, ReviewKind
from domain.text import StateText
from domain.trail import Trail

# Reminders go this many working days before an action's or a review's due date: a week's
# notice to the owner or the group (on the day itself when that has already passed).
REMIND_WORKING_DAYS = 5
MAX_ACTIONS = 200
# An action may be due up to ten years ahead; further is a typing error, not a plan.
FURTHEST_DUE = timedelta(days=3653)
REVIEW_KEY = "review"
# The plan's rules. 0: the MARS Board's single sign-off, and one record of the three partners'
# agreement to a transfer of oversight. 1 (patch "plan-partners", issue 9 item 8): each partner
# signs the plan off and records its own agreement; the plan is signed off only with an action
# addressing structural inequalities and anti-racist practice, or a reason why none applies.
PARTNER_RULES = 1
# The reviews a plan carries across a continue-as-new (patch "plan-bounded-carry", issue 13):
# the latest few; the earlier ones are in the case store's copy of the plan, which keeps them.
KEEP_REVIEWS = 4


class PlanStage(StrEnum):
    DEVISING = "devising"  # no action yet: the group turns recommendations into actions
    MONITORING = "monitoring"  # actions open
    READY_FOR_SIGNOFF = "ready_for_signoff"  # every action completed or closed
    SIGNED_OFF = "signed_off"  # the MARS Board signed it off: the plan is closed
    WITHDRAWN = "withdrawn"  # its case was withdrawn (entered in error, a duplicate)


class ActionStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CLOSED = "closed"  # not completed, with a reason


class Due(BaseModel):
    """A due date with its reminder, as the calendar computed it, and the alerts sent."""

    due_date: date | None = None
    deadline_at: AwareDatetime | None = None  # the end of the due date in London
    remind_at: AwareDatetime | None = None
    reminded: bool = False
    escalated: bool = False

    def reset(self, due_date: date | None) -> None:
        self.due_date, self.deadline_at, self.remind_at = due_date, None, None
        self.reminded = self.escalated = False


class ActionChange(BaseModel):
    at: AwareDatetime
    reason: StateText
    previous: dict[str, StateText]  # the fields changed, with their values before


class Action(BaseModel):
    action_id: str
    recommendation: int
    what: StateText
    owner: str
    added_at: AwareDatetime
    due: Due
    status: ActionStatus = ActionStatus.OPEN
    evidence: StateText | None = None
    closed_reason: StateText | None = None
    done_on: date | None = None  # given by the person recording, for a late entry
    done_at: AwareDatetime | None = None
    changes: list[ActionChange] = Field(default_factory=list)
    addresses_inequalities: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def overdue(self) -> bool:
        return self.status is ActionStatus.OPEN and self.due.escalated

    @computed_field  # type: ignore[prop-decorator]
    @property
    def completed_late(self) -> bool:
        if self.status is not ActionStatus.COMPLETED or self.due.due_date is None:
            return False
        if self.done_on is not None:
            return self.done_on > self.due.due_date
        return (self.due.deadline_at is not None and self.done_at is not None
                and self.done_at >= self.due.deadline_at)


class Review(BaseModel):
    """A review of the plan held by the group overseeing it."""

    held_on: date | None  # given by the person recording
    held_at: AwareDatetime
    due_date: date | None  # the review it answered
    late: bool
    progress: StateText
    reported_to: list[Audience]
    oversight: Oversight
    open_actions: int
    overdue_actions: int


class Signature(BaseModel):
    """One safeguarding partner's sign-off of the plan, or agreement to a transfer."""

    partner: Partner
    at: AwareDatetime
    on: date | None = None  # given by the person recording, for a late entry
    actor: Actor | None = None


class Audit(BaseModel):
    requested_at: AwareDatetime
    reported_at: AwareDatetime | None = None
    findings: StateText | None = None


class PlanEvent(BaseModel):
    """Something that happened to the plan. `detail` never holds personal data."""

    at: AwareDatetime
    kind: EventKind
    step: PlanStep | None = None
    action_id: str | None = None
    detail: str = ""
    channel: Channel = Channel.SYSTEM
    actor: Actor | None = None

    def for_case(self) -> CaseEvent:
        """As a line of the case's audit trail (its `step` column is the case's own steps)."""
        detail = " ".join(x for x in (self.step, self.action_id, self.detail) if x)
        return CaseEvent(at=self.at, kind=self.kind, detail=detail, channel=self.channel,
                         actor=self.actor)


class DateNeeded(BaseModel):
    """A due date the workflow must have the calendar compute: `calendar_days` after `start`."""

    key: str
    start: ClockPoint
    calendar_days: int = 0


class ActionPlanState(Trail[PlanEvent]):
    case_id: str
    kind: ReviewKind
    recommendations: list[StateText]
    review_every_weeks: int
    started_at: AwareDatetime
    started_on: date | None = None  # the London date, from the calendar
    stage: PlanStage = PlanStage.DEVISING
    oversight: Oversight = Oversight.CSPR_GROUP
    actions: list[Action] = Field(default_factory=list)
    reviews: list[Review] = Field(default_factory=list)
    # Reviews held before `reviews[0]`, no longer carried: the case store's copy has them.
    reviews_before: int = 0
    next_review: Due = Field(default_factory=Due)
    audits: list[Audit] = Field(default_factory=list)
    signed_off_at: AwareDatetime | None = None
    signed_off_on: date | None = None  # the Board's date: given, or the London date recorded
    rules: int = 0  # PARTNER_RULES for a plan opened since the patch "plan-partners"
    signatures: list[Signature] = Field(default_factory=list)  # the partners' sign-offs so far
    # The partners agreed so far to pass oversight to `oversight_to` (the other group).
    oversight_to: Oversight | None = None
    oversight_agreed: list[Signature] = Field(default_factory=list)
    # Why no action addresses inequalities, if none: free text (erased with the case record).
    no_equality_action: Text | None = None
    _source: tuple[Channel, Actor | None] = PrivateAttr(default=(Channel.SYSTEM, None))

    @classmethod
    def open_plan(cls, input: ActionPlanInput, now: datetime) -> ActionPlanState:
        plan = cls(case_id=input.case_id, kind=input.kind,
                   recommendations=list(input.recommendations),
                   review_every_weeks=input.review_every_weeks, started_at=now)
        plan._event(now, EventKind.STAGE, None, None, plan.stage.value)
        return plan

    def opening_dates(self) -> list[DateNeeded]:
        """The plan's own start date in London, and its first review."""
        start = ClockPoint(at=self.started_at)
        return [DateNeeded(key="started", start=start), self._review_after(start)]

    # -- reading -----------------------------------------------------------------------

    @property
    def signed_off(self) -> bool:
        return self.stage is PlanStage.SIGNED_OFF

    @property
    def withdrawn(self) -> bool:
        return self.stage is PlanStage.WITHDRAWN

    @property
    def closed(self) -> bool:
        """Over: signed off, or ended with its withdrawn case."""
        return self.signed_off or self.withdrawn

    def withdraw(self, now: datetime, actor: Actor | None) -> None:
        """Its case was withdrawn: the plan ends, nothing more is due or reminded."""
        if self.closed:
            return
        self.stage = PlanStage.WITHDRAWN
        with self._from(Channel.SIGNAL, actor):
            self._event(now, EventKind.WITHDRAWN, None, None, "the case was withdrawn")
            self._event(now, EventKind.STAGE, None, None, PlanStage.WITHDRAWN.value)

    @property
    def partners_sign(self) -> bool:
        """Each partner signs off and agrees a transfer itself (rules since "plan-partners")."""
        return self.rules >= PARTNER_RULES

    def unsigned(self) -> list[Partner]:
        """The partners yet to sign the plan off (none once it is signed off)."""
        if self.signed_off:
            return []
        signed = {s.partner for s in self.signatures}
        return [p for p in Partner if p not in signed]

    def oversight_awaiting(self) -> list[Partner]:
        """The partners yet to agree the transfer some partner has agreed to."""
        if self.oversight_to is None or self.closed:
            return []
        agreed = {s.partner for s in self.oversight_agreed}
        return [p for p in Partner if p not in agreed]

    def equality_met(self) -> bool:
        """An action (not closed unfulfilled) addresses structural inequalities and anti-racist
        practice, or a reason why none applies is recorded."""
        return self.no_equality_action is not None or any(
            a.addresses_inequalities and a.status is not ActionStatus.CLOSED
            for a in self.actions)

    @property
    def review_count(self) -> int:
        """How many reviews there have been in all, carried or not."""
        return self.reviews_before + len(self.reviews)

    def keep_recent_reviews(self) -> None:
        """Carry only the latest KEEP_REVIEWS reviews into the next run (the case store's copy
        keeps every one: `activities.case_store.with_earlier_reviews`)."""
        extra = len(self.reviews) - KEEP_REVIEWS
        if extra > 0:
            self.reviews_before += extra
            self.reviews = self.reviews[extra:]

    def action(self, action_id: str) -> Action | None:
        return next((a for a in self.actions if a.action_id == action_id), None)

    def open_actions(self) -> list[Action]:
        return [a for a in self.actions if a.status is ActionStatus.OPEN]

    def open_audit(self) -> Audit | None:
        return next((a for a in self.audits if a.reported_at is None), None)

    @property
    def overdue(self) -> bool:
        return not self.closed and (self.next_review.escalated
                                        or any(a.overdue for a in self.actions))

    def _dues(self) -> Iterator[Due]:
        if self.closed:
            return
        yield self.next_review
        for a in self.open_actions():
            yield a.due

    def next_deadline(self) -> datetime | None:
        """The earliest deadline, of the next review or an open action, not yet passed."""
        pending = [d.deadline_at for d in self._dues()
                   if d.deadline_at is not None and not d.escalated]
        return min(pending) if pending else None

    def next_alert_at(self) -> datetime | None:
        times = [t for d in self._dues() for t, sent in ((d.deadline_at, d.escalated),
                                                         (d.remind_at, d.reminded))
                 if t is not None and not sent]
        return min(times) if times else None

    # -- due dates ---------------------------------------------------------------------

    def set_date(self, key: str, due_date: date, deadline_at: datetime,
                 remind_at: datetime) -> None:
        """Take a date the calendar computed; one asked for before a later change is ignored."""
        if key == "started":
            self.started_on = due_date
            return
        if key == "signed_off":
            self.signed_off_on = due_date
            return
        if key.startswith(REVIEW_KEY):
            due = self.next_review if key == self._review_key() else None
        else:
            action = self.action(key)
            due = action.due if action is not None and action.due.due_date == due_date else None
        if due is None:
            return
        due.due_date, due.deadline_at, due.remind_at = due_date, deadline_at, remind_at

    def reminder_needs(self) -> list[DateNeeded]:
        """The open dates whose reminder is still to come, to count again on a new calendar.

        Only reminders count working days here (REMIND_WORKING_DAYS before); the due dates
        are given dates, or calendar weeks for reviews, and a bank holiday does not move them.
        """
        if self.closed:
            return []
        needs: list[DateNeeded] = []
        if self.next_review.due_date is not None and not self.next_review.reminded:
            needs.append(DateNeeded(key=self._review_key(),
                                    start=ClockPoint(on=self.next_review.due_date)))
        for a in self.open_actions():
            if a.due.due_date is not None and not a.due.reminded:
                needs.append(_on(a.action_id, a.due.due_date))
        return needs

    def calendar_changed(self, now: datetime, change: CalendarChanged, reminders: int) -> None:
        """Note that the reminders were counted again after a bank holiday changed."""
        if self.closed:
            return  # closed: nothing was counted, and the trail ends at the sign-off
        with self._from(Channel.SIGNAL, None):
            self._event(now, EventKind.RECORDED, None, None,
                        f"calendar: {change.day} {change.change}; {reminders} reminders "
                        "counted again")

    def _review_key(self) -> str:
        return f"{REVIEW_KEY}:{self.review_count}"

    def _review_after(self, start: ClockPoint) -> DateNeeded:
        return DateNeeded(key=self._review_key(), start=start,
                          calendar_days=7 * self.review_every_weeks)

    def due_alerts(self, now: datetime) -> list[PlanEvent]:
        """Reminders and escalations due at `now`, each marked so it fires only once."""
        alerts: list[tuple[Due, PlanStep, str | None]] = []
        if not self.closed:
            alerts.append((self.next_review, PlanStep.PLAN_REVIEW, None))
            alerts += [(a.due, PlanStep.ADD_ACTION, a.action_id) for a in self.open_actions()]
        fired: list[PlanEvent] = []
        with self._from(Channel.TIMER, None):
            for due, step, action_id in alerts:
                kind: EventKind | None = None
                if due.deadline_at is not None and not due.escalated and now >= due.deadline_at:
                    # A passed date marks the action (or review) overdue and escalates it; the
                    # plan keeps waiting for it. No reminder once it is overdue.
                    due.escalated = due.reminded = True
                    kind = EventKind.OVERDUE
                elif due.remind_at is not None and not due.reminded and now >= due.remind_at:
                    due.reminded = True
                    kind = EventKind.REMINDER
                if kind is not None:
                    fired.append(self._event(now, kind, step if action_id is None else None,
                                             action_id, f"due {due.due_date}"))
        return fired

    # -- recording ---------------------------------------------------------------------

    def check(self, record: PlanRecord, now: datetime) -> None:
        """Raise StepNotOpen or InvalidRecord if `record` cannot be made now."""
        step = PlanStep(record.step)

        def require(ok: bool, reason: str) -> None:
            if not ok:
                raise StepNotOpen(step.value, reason)

        require(not self.signed_off, "the action plan is signed off")
        require(not self.withdrawn, "the case was withdrawn")
        self._check_done_on(record.completed_on, now)
        match record:
            case AddAction(recommendation=n, due_date=due):
                if n > len(self.recommendations):
                    raise InvalidRecord("recommendation", f"the report has "
                                        f"{len(self.recommendations)} recommendations")
                self._check_due(due, now)
                require(len(self.actions) < MAX_ACTIONS,
                        f"the plan has the most actions it takes ({MAX_ACTIONS})")
            case ChangeAction(action_id=action_id, due_date=due):
                self._open_action(action_id, require)
                self._check_due(due, now)
            case CompleteAction(action_id=action_id) | CloseAction(action_id=action_id):
                self._open_action(action_id, require)
            case OversightTransfer(to=to, partner=partner, agreed_by=agreed_by):
                require(to is not self.oversight, f"the plan is already overseen by the {to}")
                if self.partners_sign:
                    if agreed_by is not None:
                        raise InvalidRecord("agreed_by", "each partner records its own "
                                            "agreement: give partner")
                    assert partner is not None  # the record's own rule
                    require(partner not in {s.partner for s in self.oversight_agreed},
                            f"already agreed by {partner.value}")
                elif partner is not None:
                    raise InvalidRecord("partner", "this plan takes the three partners' "
                                        "agreement in one record: give agreed_by")
            case ScrutinyAudit(status=AuditStatus.REQUESTED):
                require(self.open_audit() is None, "an audit is requested and has not reported")
            case ScrutinyAudit(status=AuditStatus.REPORTED):
                require(self.open_audit() is not None, "no audit has been requested")
            case BoardSignoff():
                require(bool(self.actions), "the plan has no action")
                still_open = [a.action_id for a in self.open_actions()]
                require(not still_open, "actions not completed or closed: "
                        + ", ".join(still_open))
                missing = [str(n) for n in range(1, len(self.recommendations) + 1)
                           if not any(a.recommendation == n for a in self.actions)]
                require(not missing, "recommendations with no action: " + ", ".join(missing))
                require(self.open_audit() is None, "the scrutiny audit has not reported")
                if self.partners_sign:
                    self._check_signature(record, require)

    def _check_signature(self, record: BoardSignoff,
                         require: Callable[[bool, str], None]) -> None:
        """A partner's sign-off (rules since "plan-partners"): named, once, and with the
        equality duties met."""
        if record.partner is None:
            raise InvalidRecord("partner", "Field required: each safeguarding partner signs "
                                "the plan off for itself")
        require(record.partner in self.unsigned(),
                f"already signed off by {record.partner.value}")
        require(self.equality_met(), "no action addresses structural inequalities and "
                "anti-racist practice, and no reason why none applies is recorded "
                "(no_equality_action)")

    def _open_action(self, action_id: str, require: Callable[[bool, str], None]) -> None:
        action = self.action(action_id)
        if action is None:
            raise InvalidRecord("action_id", "no such action in this plan")
        require(action.status is ActionStatus.OPEN, f"action {action_id} is {action.status}")

    def _check_done_on(self, day: date | None, now: datetime) -> None:
        if day is None:
            return
        if day > latest_london_date(now):
            raise InvalidRecord("completed_on", "is in the future")
        # The start's London date, or the UTC one while it is being computed (a day early at
        # most: never refuses a date on or after the start).
        if day < (self.started_on or self.started_at.date()):
            raise InvalidRecord("completed_on", "is before the action plan started")

    @staticmethod
    def _check_due(day: date | None, now: datetime) -> None:
        if day is None:
            return
        if day < now.date():  # UTC: London's today is that or the day after
            raise InvalidRecord("due_date", "is in the past")
        if day > now.date() + FURTHEST_DUE:
            raise InvalidRecord("due_date", "is more than ten years away")

    def apply(self, record: PlanRecord, now: datetime, channel: Channel = Channel.API,
              actor: Actor | None = None) -> list[DateNeeded]:
        """Make a checked `record` at `now`; returns the due dates to compute."""
        with self._from(channel, actor):
            needed = self._apply(record, now)
            self._restage(now)
            return needed

    def _apply(self, record: PlanRecord, now: datetime) -> list[DateNeeded]:
        step = PlanStep(record.step)
        action_id = getattr(record, "action_id", None)
        match record:
            case AddAction():
                action_id = f"A{len(self.actions) + 1}"
                self.actions.append(Action(
                    action_id=action_id, recommendation=record.recommendation, what=record.what,
                        owner=record.owner, added_at=now, due=Due(due_date=record.due_date),
                    addresses_inequalities=record.addresses_inequalities))
                self._event(now, EventKind.RECORDED, step, action_id, "")
                return [_on(action_id, record.due_date)]
            case ChangeAction():
                return self._change(record, now)
            case CompleteAction() | CloseAction():
                action = self._the(record.action_id)
                if isinstance(record, CompleteAction):
                    action.status, action.evidence = ActionStatus.COMPLETED, record.evidence
                else:
                    action.status, action.closed_reason = ActionStatus.CLOSED, record.reason
                action.done_on, action.done_at = record.completed_on, now
            case PlanReview():
                return self._review(record, now)
            case OversightTransfer(to=to, partner=None):
                self.oversight = to
                self._event(now, EventKind.RECORDED, step, None, to.value)
                return []
            case OversightTransfer(to=to, partner=Partner() as partner):
                return self._agree_transfer(to, partner, record.completed_on, now)
            case NoEqualityAction(reason=reason):
                self.no_equality_action = reason
            case ScrutinyAudit(status=AuditStatus.REQUESTED):
                self.audits.append(Audit(requested_at=now))
            case ScrutinyAudit(findings=findings):
                audit = self.open_audit()
                if audit is not None:
                    audit.reported_at, audit.findings = now, findings
            case BoardSignoff(partner=Partner() as partner) if self.partners_sign:
                return self._sign(partner, record.completed_on, now)
            case BoardSignoff():
                self.signed_off_at = now
                self.signed_off_on = record.completed_on
        detail = record.status.value if isinstance(record, ScrutinyAudit) else ""
        self._event(now, EventKind.RECORDED, step, action_id, detail)
        if isinstance(record, BoardSignoff) and record.completed_on is None:
            return [DateNeeded(key="signed_off", start=ClockPoint(at=now))]
        return []

    def _sign(self, partner: Partner, on: date | None, now: datetime) -> list[DateNeeded]:
        """One partner's sign-off; the plan is signed off with the third."""
        self.signatures.append(Signature(partner=partner, at=now, on=on,
                                         actor=self._source[1]))
        self._event(now, EventKind.RECORDED, PlanStep.BOARD_SIGNOFF, None, partner.value)
        if self.unsigned():
            return []
        self.signed_off_at = now
        days = [s.on for s in self.signatures if s.on is not None]
        if len(days) == len(self.signatures):
            self.signed_off_on = max(days)  # the last partner's date
            return []
        return [DateNeeded(key="signed_off", start=ClockPoint(at=now))]

    def _agree_transfer(self, to: Oversight, partner: Partner, on: date | None,
                        now: datetime) -> list[DateNeeded]:
        """One partner's agreement to a transfer; it takes effect with the third."""
        self.oversight_to = to
        self.oversight_agreed.append(Signature(partner=partner, at=now, on=on,
                                               actor=self._source[1]))
        self._event(now, EventKind.RECORDED, PlanStep.OVERSIGHT_TRANSFER, None,
                    f"{to.value} agreed by {partner.value}")
        if not self.oversight_awaiting():
            self.oversight, self.oversight_to = to, None
            self.oversight_agreed = []
            self._event(now, EventKind.RECORDED, PlanStep.OVERSIGHT_TRANSFER, None,
                        f"{to.value}: all partners agreed")
        return []

    def _the(self, action_id: str) -> Action:
        action = self.action(action_id)
        if action is None:  # check() refuses such a record first
            raise InvalidRecord("action_id", "no such action in this plan")
        return action

    def _change(self, record: ChangeAction, now: datetime) -> list[DateNeeded]:
        action = self._the(record.action_id)
        previous: dict[str, str] = {}
        for field in ("what", "owner", "addresses_inequalities"):
            value = getattr(record, field)
            if value is not None and value != getattr(action, field):
                previous[field] = str(getattr(action, field))
                setattr(action, field, value)
        needed: list[DateNeeded] = []
        if record.due_date is not None and record.due_date != action.due.due_date:
            previous["due_date"] = str(action.due.due_date)
            action.due.reset(record.due_date)
            needed.append(_on(action.action_id, record.due_date))
        action.changes.append(ActionChange(at=now, reason=record.reason, previous=previous))
        self._event(now, EventKind.RECORDED, PlanStep.CHANGE_ACTION, action.action_id,
                    " ".join(sorted(previous)))
        return needed

    def _review(self, record: PlanReview, now: datetime) -> list[DateNeeded]:
        due = self.next_review
        held = ClockPoint(on=record.completed_on) if record.completed_on else ClockPoint(at=now)
        if record.completed_on is not None and due.due_date is not None:
            late = record.completed_on > due.due_date
        else:
            late = due.deadline_at is not None and now >= due.deadline_at
        self.reviews.append(Review(
            held_on=record.completed_on, held_at=now, due_date=due.due_date, late=late,
            progress=record.progress, reported_to=list(record.reported_to),
            oversight=self.oversight, open_actions=len(self.open_actions()),
            overdue_actions=sum(a.overdue for a in self.actions)))
        if record.next_review_in_weeks is not None:
            self.review_every_weeks = record.next_review_in_weeks
        self._event(now, EventKind.RECORDED, PlanStep.PLAN_REVIEW, None,
                    f"review {self.review_count}")
        # The next review counts from this one; its date comes back from the calendar.
        due.reset(None)
        return [self._review_after(held)]

    def _restage(self, now: datetime) -> None:
        if self.signed_off_at is not None:
            stage = PlanStage.SIGNED_OFF
        elif not self.actions:
            stage = PlanStage.DEVISING
        elif self.open_actions():
            stage = PlanStage.MONITORING
        else:
            stage = PlanStage.READY_FOR_SIGNOFF
        if stage is not self.stage:
            if stage is PlanStage.MONITORING and self.signatures:
                # An action added after some partners signed: they sign the new plan again.
                self.signatures = []
                self._event(now, EventKind.RECORDED, PlanStep.BOARD_SIGNOFF, None,
                            "signatures set aside: the plan changed")
            self.stage = stage
            self._event(now, EventKind.STAGE, None, None, stage.value)

    # -- events ------------------------------------------------------------------------

    def reject_signal(self, now: datetime, step: str | None, reason: str,
                      actor: Actor | None) -> None:
        known = PlanStep(step) if step in set(PlanStep) else None
        with self._from(Channel.SIGNAL, actor):
            self._event(now, EventKind.SIGNAL_REJECTED, known, None, reason)

    @contextmanager
    def _from(self, channel: Channel, actor: Actor | None) -> Iterator[None]:
        self._source = (channel, actor)
        try:
            yield
        finally:
            self._source = (Channel.SYSTEM, None)

    def due_of(self, step: PlanStep | None, action_id: str | None) -> date | None:
        """The due date an alert was about: an action's, or the next review's."""
        if action_id is not None:
            action = self.action(action_id)
            return action.due.due_date if action is not None else None
        return self.next_review.due_date if step is PlanStep.PLAN_REVIEW else None

    def owner_of(self, action_id: str | None) -> str | None:
        """The organisation that owns an action (None for the plan's own reviews)."""
        action = self.action(action_id) if action_id is not None else None
        return action.owner if action is not None else None

    def store_alert(self, now: datetime, kind: EventKind, detail: str) -> None:
        """The case store behind the plan (`projection_failed`), or caught up again
        (`projection_restored`): shown for the MARS team, and in the trail once written."""
        self._event(now, kind, None, None, detail)

    def mail_failed(self, now: datetime, step: PlanStep | None, action_id: str | None,
                    detail: str) -> None:
        """An alert's e-mail that did not reach everyone: shown for the MARS team."""
        self._event(now, EventKind.MAIL_FAILED, step, action_id, detail)

    def _event(self, now: datetime, kind: EventKind, step: PlanStep | None,
               action_id: str | None, detail: str) -> PlanEvent:
        channel, actor = self._source
        event = PlanEvent(at=now, kind=kind, step=step, action_id=action_id, detail=detail,
                          channel=channel, actor=actor)
        self.events.append(event)
        return event


def _on(key: str, due: date) -> DateNeeded:
    """An action's due date as given: the calendar adds its deadline and reminder."""
    return DateNeeded(key=key, start=ClockPoint(on=due))

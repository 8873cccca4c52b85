"""Differences of opinion and their escalation ladder (procedure, "Differences of opinion").

A difference about whether a case meets the criteria, whether a review should be undertaken,
or any part of the process is raised by the organisation's representative who holds it. It is
worked on first with the SSLs and the Children's MARS team; if unresolved, the SSLs refer it to
the safeguarding partners; if still unresolved, an Independent Scrutiny Officer mediates. Each
level has a target (working days from the day the difference reached it); when it passes the
difference escalates to the next level, and at the last level it is marked overdue. Panel
guidance 2.4: where the partners disagree on a notification they "follow their own local dispute
resolution process" - this one.

Pure and deterministic: target dates are computed by the calendar activity (the workflow asks
for the `needing_dates()` and hands them back with `set_target`); nothing here reads a clock.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from domain.calendar import latest_london_date, london_date
from domain.decisions import Actor, DecisionMessage
from domain.notification import Text
from domain.procedure import Step
from domain.text import StateText


class Subject(StrEnum):
    """What the difference is about (the procedure's three bullets)."""

    CRITERIA = "criteria"  # whether a case meets the criteria of a serious case
    WHETHER_TO_REVIEW = "whether_to_review"  # whether a CSPR should be undertaken
    PROCESS = "process"  # any part of the process


class Level(StrEnum):
    """The rungs of the ladder, in order."""

    SSL_AND_MARS = "ssl_and_mars"
    SAFEGUARDING_PARTNERS = "safeguarding_partners"
    INDEPENDENT_SCRUTINY = "independent_scrutiny"


LADDER: tuple[Level, ...] = (Level.SSL_AND_MARS, Level.SAFEGUARDING_PARTNERS,
                             Level.INDEPENDENT_SCRUTINY)


class LevelEnd(StrEnum):
    """How a difference left a level."""

    ESCALATED_BY_PERSON = "escalated_by_person"
    TARGET_PASSED = "target_passed"
    RESOLVED = "resolved"


class DifferenceAlertKind(StrEnum):
    REMINDER = "reminder"  # the level's target is near
    ESCALATED = "escalated"  # the target passed: referred to the next level
    OVERDUE = "overdue"  # the last level's target passed


TargetDays = Annotated[int, Field(ge=1, le=60)]
DifferenceId = Annotated[str, StringConstraints(pattern=r"^DOO-[1-9][0-9]{0,3}$")]


class DifferenceTargets(BaseModel):
    """Working days each level has to resolve a difference, counted from the day it reached it.

    The procedure sets no targets: these defaults (5, 5 and 10 working days) are local choices,
    a working week at each of the first two levels (the partners already meet weekly at
    rapid-review pace) and two for arranging an Independent Scrutiny Officer's mediation
    meeting. Deployments set their own with CSPR_DIFFERENCE_TARGET_DAYS.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ssl_and_mars: TargetDays = 5
    safeguarding_partners: TargetDays = 5
    independent_scrutiny: TargetDays = 10

    def days(self, level: Level) -> int:
        return int(getattr(self, level.value))

    @classmethod
    def parse(cls, setting: str) -> DifferenceTargets:
        """From "5,5,10" (one number per level, in ladder order); ValueError naming the rule."""
        parts = [p.strip() for p in setting.split(",")]
        if len(parts) != len(LADDER) or not all(p.isdigit() for p in parts):
            raise ValueError("CSPR_DIFFERENCE_TARGET_DAYS: three whole numbers of working days, "
                             "e.g. 5,5,10")
        try:
            return cls(**{level.value: int(p) for level, p in zip(LADDER, parts, strict=True)})
        except ValidationError:
            raise ValueError("CSPR_DIFFERENCE_TARGET_DAYS: each from 1 to 60 working days") \
                from None


class LevelTarget(BaseModel):
    """The current level's target, like a step's deadline: computed by the calendar activity."""

    level: Level
    working_days: int
    started_at: AwareDatetime  # counted from the London date of this instant
    due_date: date | None = None
    deadline_at: AwareDatetime | None = None  # the end of the due date in London
    remind_at: AwareDatetime | None = None
    reminded: bool = False
    escalated: bool = False  # the target has passed (escalated, or overdue at the last level)


class LevelSpell(BaseModel):
    """A time the difference spent at one level."""

    level: Level
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    how: LevelEnd | None = None  # None while it is the current level
    reason: StateText | None = None  # why a person escalated it
    by: Actor | None = None  # who escalated or resolved it (None: the case itself)


class Resolution(BaseModel):
    resolved_at: AwareDatetime
    resolved_on: date | None = None  # the date it was reached, if not the day it was recorded
    level: Level
    outcome: StateText
    by: Actor | None = None  # None: the case itself (the partners' decisions agreed)


class Difference(BaseModel):
    """One difference of opinion, from its raising to its resolution."""

    id: str
    subject: Subject
    summary: StateText
    raised_by: Actor | None = None  # None: raised by the case itself (the DSPs disagreeing)
    raised_at: AwareDatetime
    step: Step | None = None  # the step whose records raised it, if the case raised it
    targets: DifferenceTargets
    level: Level
    target: LevelTarget
    history: list[LevelSpell]
    overdue: bool = False  # the last level's target has passed
    resolution: Resolution | None = None

    @property
    def open(self) -> bool:
        return self.resolution is None


class DifferenceAlert(BaseModel):
    kind: DifferenceAlertKind
    difference_id: str
    level: Level
    due_date: date | None
    # Overdue at a level that is not the last: the service does not refer it up by itself.
    held: bool = False


class DateNeeded(BaseModel):
    """A level's target the workflow must have the calendar activity compute."""

    difference_id: str
    level: Level
    started_at: AwareDatetime
    working_days: int


# -- what a person asks for (the `record` of a loose message, validated here) --------------

class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RaiseDifference(_Request):
    subject: Subject
    summary: Text
    targets: DifferenceTargets = Field(default_factory=DifferenceTargets)


class EscalateDifference(_Request):
    difference_id: DifferenceId
    reason: Text


class ResolveDifference(_Request):
    difference_id: DifferenceId
    outcome: Text
    resolved_on: date | None = None


Request = TypeVar("Request", bound=_Request)


class DifferenceNotOpen(Exception):
    """The difference cannot be changed that way now (resolved, at the last level)."""

    def __init__(self, difference_id: str, reason: str) -> None:
        super().__init__(f"{difference_id}: {reason}")
        self.field = "difference_id"
        self.difference_id = difference_id
        self.reason = reason


class DifferenceNotFound(Exception):
    def __init__(self, difference_id: str) -> None:
        super().__init__(f"{difference_id}: no such difference of opinion in this case")
        self.difference_id = difference_id


class InvalidDifference(Exception):
    """The request's content is wrong: names the field, never its value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def parse_difference(message: DecisionMessage, kind: type[Request]) -> tuple[Request, Actor | None]:
    """Validate a loose message's record as `kind`, and its actor; InvalidDifference names the
    first bad field."""
    try:
        request = kind.model_validate(message.record)
        actor = Actor.model_validate(message.actor) if message.actor is not None else None
    except ValidationError as e:
        error = e.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "body"
        raise InvalidDifference(field, str(error["msg"])) from None
    return request, actor


class Differences(BaseModel):
    """A case's differences of opinion."""

    items: list[Difference] = Field(default_factory=list)
    # Whether the case raises one itself when the DSPs disagree (set by the workflow from the
    # "differences-of-opinion" patch: it adds commands to a case's history).
    automatic: bool = False
    # The targets the case raises its own with: the service's when the case started.
    targets: DifferenceTargets = Field(default_factory=DifferenceTargets)
    # A level's target passing refers the difference up by itself: the service's own rule
    # (CSPR_DIFFERENCE_AUTO_REFER, domain.service_rules); off, the level is told and a person
    # refers it, as the procedure has the SSLs do.
    auto_refer: bool = True

    def get(self, difference_id: str) -> Difference:
        found = next((d for d in self.items if d.id == difference_id), None)
        if found is None:
            raise DifferenceNotFound(difference_id)
        return found

    def open_one(self, step: Step) -> Difference | None:
        """The open difference the case raised for `step`'s records, if any."""
        return next((d for d in self.items if d.open and d.step is step), None)

    # -- checks (the update validators), then changes ------------------------------------

    def check_escalate(self, request: EscalateDifference) -> Difference:
        difference = self._open(request.difference_id)
        if difference.level is LADDER[-1]:
            raise DifferenceNotOpen(difference.id, f"already at {LADDER[-1].value}, the last "
                                                   "level")
        return difference

    def check_resolve(self, request: ResolveDifference, now: datetime) -> Difference:
        difference = self._open(request.difference_id)
        on = request.resolved_on
        if on is not None:
            if on > latest_london_date(now):
                raise InvalidDifference("resolved_on", "is in the future")
            if on < london_date(difference.raised_at):
                raise InvalidDifference("resolved_on", "is before the difference was raised")
        return difference

    def _open(self, difference_id: str) -> Difference:
        difference = self.get(difference_id)
        if not difference.open:
            raise DifferenceNotOpen(difference.id, "already resolved")
        return difference

    def raise_(self, request: RaiseDifference, now: datetime, by: Actor | None,
               step: Step | None = None, level: Level = LADDER[0]) -> Difference:
        """A new difference, at the ladder's first level unless the case raises it itself at
        another; its target date is still to be computed."""
        difference = Difference(
            id=f"DOO-{len(self.items) + 1}", subject=request.subject,
            summary=request.summary, raised_by=by, raised_at=now, step=step,
            targets=request.targets, level=level, target=_target(request.targets, level, now),
            history=[LevelSpell(level=level, started_at=now)],
        )
        self.items.append(difference)
        return difference

    def escalate(self, request: EscalateDifference, now: datetime, by: Actor | None
                 ) -> Difference:
        """Refer the difference to the next level, as a person decided."""
        difference = self.check_escalate(request)
        _move_up(difference, now, LevelEnd.ESCALATED_BY_PERSON, request.reason, by)
        return difference

    def resolve(self, request: ResolveDifference, now: datetime, by: Actor | None) -> Difference:
        difference = self.check_resolve(request, now)
        _resolve(difference, now, request.outcome, by, request.resolved_on)
        return difference

    def resolve_automatically(self, difference: Difference, now: datetime, outcome: str) -> None:
        """Resolved by the case itself (the partners' decisions now agree)."""
        _resolve(difference, now, outcome, None, None)

    # -- targets -------------------------------------------------------------------------

    def needing_dates(self) -> list[DateNeeded]:
        return [DateNeeded(difference_id=d.id, level=d.level, started_at=d.target.started_at,
                           working_days=d.target.working_days)
                for d in self.items if d.open and d.target.deadline_at is None]

    def pending_targets(self) -> list[DateNeeded]:
        """The current levels' targets still to come: counted again on a changed calendar."""
        return [DateNeeded(difference_id=d.id, level=d.level, started_at=d.target.started_at,
                           working_days=d.target.working_days)
                for d in self.items
                if d.open and d.target.deadline_at is not None and not d.target.escalated]

    def move_target(self, difference_id: str, level: Level, due_date: date,
                    deadline_at: datetime, remind_at: datetime) -> date | None:
        """Take a target counted again; returns the date it had if it moved (None if not).
        Reminded afresh from its new date."""
        difference = self.get(difference_id)
        target = difference.target
        if (not difference.open or difference.level is not level or target.escalated
                or target.due_date == due_date):
            return None
        was = target.due_date
        target.due_date, target.deadline_at, target.remind_at = due_date, deadline_at, remind_at
        target.reminded = False
        return was

    def set_target(self, difference_id: str, level: Level, due_date: date,
                   deadline_at: datetime, remind_at: datetime) -> None:
        """Take a target date the calendar computed (ignored if the level has moved on)."""
        difference = self.get(difference_id)
        if not difference.open or difference.level is not level:
            return
        target = difference.target
        target.due_date, target.deadline_at, target.remind_at = due_date, deadline_at, remind_at

    def due_alerts(self, now: datetime) -> list[DifferenceAlert]:
        """Reminders before a level's target; once it passes, escalation to the next level or,
        at the last, overdue. Each fires once."""
        alerts: list[DifferenceAlert] = []
        for d in self.items:
            target = d.target
            if not d.open or target.deadline_at is None or target.escalated:
                continue
            if now >= target.deadline_at:
                target.escalated = target.reminded = True
                due = target.due_date
                if d.level is LADDER[-1] or not self.auto_refer:
                    # The last rung: nothing to refer it to. It stays with the Independent
                    # Scrutiny Officer, marked overdue, and people are told. Without the
                    # service's automatic referral, any level: its people refer it on.
                    d.overdue = True
                    alerts.append(DifferenceAlert(kind=DifferenceAlertKind.OVERDUE,
                                                  difference_id=d.id, level=d.level,
                                                  due_date=due,
                                                  held=d.level is not LADDER[-1]))
                else:
                    # "Should the matter remain unresolved" it goes up: from the moment the
                    # target passed, so the ladder does not depend on when the timer fired.
                    _move_up(d, target.deadline_at, LevelEnd.TARGET_PASSED, None, None)
                    alerts.append(DifferenceAlert(kind=DifferenceAlertKind.ESCALATED,
                                                  difference_id=d.id, level=d.level,
                                                  due_date=due))
            elif not target.reminded and target.remind_at is not None and now >= target.remind_at:
                target.reminded = True
                alerts.append(DifferenceAlert(kind=DifferenceAlertKind.REMINDER,
                                              difference_id=d.id, level=d.level,
                                              due_date=target.due_date))
        return alerts

    def next_alert_at(self) -> datetime | None:
        times: list[datetime] = []
        for d in self.items:
            target = d.target
            if not d.open or target.escalated:
                continue
            if target.deadline_at is not None:
                times.append(target.deadline_at)
            if target.remind_at is not None and not target.reminded:
                times.append(target.remind_at)
        return min(times) if times else None

    @property
    def overdue(self) -> bool:
        return any(d.open and d.overdue for d in self.items)


def _target(targets: DifferenceTargets, level: Level, started_at: datetime) -> LevelTarget:
    return LevelTarget(level=level, working_days=targets.days(level), started_at=started_at)


def _move_up(difference: Difference, at: datetime, how: LevelEnd, reason: str | None,
             by: Actor | None) -> None:
    spell = difference.history[-1]
    spell.ended_at, spell.how, spell.reason, spell.by = at, how, reason, by
    difference.overdue = False  # held at its level past its target, now referred on
    level = LADDER[LADDER.index(difference.level) + 1]
    difference.level = level
    difference.target = _target(difference.targets, level, at)
    difference.history.append(LevelSpell(level=level, started_at=at))


def _resolve(difference: Difference, now: datetime, outcome: str, by: Actor | None,
             on: date | None) -> None:
    spell = difference.history[-1]
    spell.ended_at, spell.how, spell.by = now, LevelEnd.RESOLVED, by
    difference.resolution = Resolution(resolved_at=now, resolved_on=on, level=difference.level,
                                       outcome=outcome, by=by)


def loose(record: dict[str, Any], actor: Actor | None) -> DecisionMessage:
    """A message for the difference updates, as the API and tests send them."""
    return DecisionMessage(record=record,
                           actor=actor.model_dump(mode="json") if actor is not None else None)

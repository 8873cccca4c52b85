"""Families told of each decision, and how they will be involved (issue 9, "Duties nobody can
record yet").

The procedure: the rationale of each decision is "communicated appropriately, including to
families" (the partners' decision, the rapid review, the final report), and families' views are
sought (how they will be involved: the rapid review, the LCSPR). A record says who was told (a
role, not necessarily a name), when, how, for which decision; the case keeps them, and reminds
the MARS team while a decision made has not been told to the family.

Pure: the case feeds it the time and the decisions it has made; the reminders are the case's
events, e-mailed like any step's reminder (domain.mail).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from domain.calendar import latest_london_date, london_date
from domain.decisions import Actor, DecisionMessage
from domain.notification import PersonName, Text

# The service's own interval (the procedure sets none): the MARS team is reminded this many
# days after a decision is made, and again as often, until the family has been told.
REMIND_EVERY_DAYS = 7


class FamilyDecision(StrEnum):
    """The decisions whose rationale the family is told of."""

    PARTNERS_DECISION = "partners_decision"  # the DSPs' decision on a rapid review / a CSPR
    RAPID_REVIEW = "rapid_review"  # the rapid review's decision (and how the family is involved)
    FINAL_REPORT = "final_report"  # the LCSPR's final report (and how the family was involved)


# The decisions whose record says how the family will be (or was) involved.
INVOLVEMENT = frozenset({FamilyDecision.RAPID_REVIEW, FamilyDecision.FINAL_REPORT})


class FamilyCommunication(BaseModel):
    """A decision's rationale told to the family: who was told (a role is enough), when, how,
    and, for the rapid review and the LCSPR, how the family will be involved."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "decision": "rapid_review", "told": "The child's mother", "told_on": "2026-11-20",
        "method": "Home visit by the allocated social worker, with a letter",
        "rationale": "The rapid review found learning for the partners; an LCSPR will follow",
        "involvement": "Invited to meet the reviewer; an advocate offered",
    }]})

    decision: FamilyDecision
    told: PersonName = Field(description="Who was told: a role (\"the child's mother\") is enough")
    told_on: date = Field(description="When they were told")
    method: Text = Field(description="How: a visit, a meeting, a call, a letter")
    rationale: Text = Field(description="The decision's rationale as it was communicated")
    involvement: Text | None = Field(
        None, description="How the family will be involved (required for the rapid review "
                          "and the final report)")


class FamilyMessage(BaseModel):
    """The `record_family_communication` Update: the record and who makes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record: FamilyCommunication
    actor: Actor | None = None


class FamilyRecord(FamilyCommunication):
    """A record made: when, and by whom."""

    recorded_at: AwareDatetime
    actor: Actor | None = None


class InvalidFamilyRecord(Exception):
    """Names the field and the reason, never its value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Owed(BaseModel):
    """A decision made and not yet told to the family: since when, and its next reminder."""

    decision: FamilyDecision
    since: AwareDatetime
    remind_at: AwareDatetime


class Families(BaseModel):
    """The case's family records and the decisions still to tell (patch
    "family-communication": cases opened before neither owe nor remind)."""

    enabled: bool = False
    records: list[FamilyRecord] = Field(default_factory=list)
    owed: list[Owed] = Field(default_factory=list)

    def told(self, decision: FamilyDecision) -> bool:
        return any(r.decision is decision for r in self.records)

    def decided(self, decision: FamilyDecision, at: datetime) -> None:
        """A decision was made at `at`: the family is owed its rationale until told."""
        if not self.enabled or self.told(decision) or \
                any(o.decision is decision for o in self.owed):
            return
        self.owed.append(Owed(decision=decision, since=at,
                              remind_at=at + timedelta(days=REMIND_EVERY_DAYS)))

    def check(self, record: FamilyCommunication, now: datetime, earliest: date) -> None:
        if record.told_on > latest_london_date(now):
            raise InvalidFamilyRecord("told_on", "is in the future")
        if record.told_on < earliest:
            raise InvalidFamilyRecord("told_on", "is before the case was received")
        if record.decision in INVOLVEMENT and record.involvement is None:
            raise InvalidFamilyRecord("involvement", "is required for the "
                                      f"{record.decision.value.replace('_', ' ')}: how the "
                                      "family will be involved")
        # Only a decision made can be told (a record would otherwise settle, unseen, a duty
        # still to come), and not before it was made.
        owed = next((o for o in self.owed if o.decision is record.decision), None)
        if owed is None and not self.told(record.decision):
            raise InvalidFamilyRecord("decision", f"the {record.decision.value.replace('_', ' ')}"
                                      " has not been made on this case")
        if owed is not None and record.told_on < london_date(owed.since):
            raise InvalidFamilyRecord("told_on", "is before the decision was made")

    def record(self, record: FamilyCommunication, now: datetime, actor: Actor | None) -> None:
        self.records.append(FamilyRecord(**record.model_dump(), recorded_at=now, actor=actor))
        self.owed = [o for o in self.owed if o.decision is not record.decision]

    def due_reminders(self, now: datetime) -> list[FamilyDecision]:
        """The decisions whose reminder is due at `now`; each reminded again a week on."""
        due = []
        for o in self.owed:
            if now >= o.remind_at:
                due.append(o.decision)
                o.remind_at = now + timedelta(days=REMIND_EVERY_DAYS)
        return due

    def next_reminder_at(self) -> datetime | None:
        return min((o.remind_at for o in self.owed), default=None)


def parse_family(message: DecisionMessage) -> FamilyMessage:
    """Validate a loose message; InvalidFamilyRecord names the first bad field."""
    try:
        return FamilyMessage.model_validate(message.model_dump())
    except ValidationError as e:
        error = e.errors()[0]
        field = ".".join(str(p) for p in error["loc"] if p != "record") or "record"
        raise InvalidFamilyRecord(field, str(error["msg"])) from None

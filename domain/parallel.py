"""Other processes running alongside a CSPR (Appendix 3): what the case records of each, the
facts that suggest which may apply, and why.

The partners "liaise with the relevant lead(s) for other investigations/procedures invoked";
whether a DHR, a SAR, a MAPPA SCR or an SFO review is held is for its own body to decide (the
Community Safety Partnership's chair, the Safeguarding Adults Board, the MAPPA Strategic
Management Board, the Probation Service). A suggestion says which rule of Appendix 3 the facts
meet; it never holds a fact's value (an age, a date), only the rule.

Pure and deterministic, like `domain.case`: the workflow applies records at `workflow.now()`.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.calendar import latest_london_date
from domain.decisions import Actor, DecisionMessage, PlanDate
from domain.notification import Harm, Name, Text

if TYPE_CHECKING:
    from domain.case import CaseState, InvalidRecord


class ProcessKind(StrEnum):
    """A process that may run alongside the CSPR (Appendix 3)."""

    DHR = "dhr"  # domestic homicide review: the Community Safety Partnership
    SAR = "sar"  # safeguarding adults review: the Safeguarding Adults Board
    MAPPA_SCR = "mappa_scr"  # MAPPA serious case review: the MAPPA Strategic Management Board
    SFO = "sfo"  # serious further offence review: the Probation Service
    YJB_NOTIFICATION = "yjb_notification"  # serious incident notified to the Youth Justice Board
    # The police investigation and the prosecution that may follow it ("criminal investigations
    # and proceedings"): a future prosecution is recorded as this kind.
    CRIMINAL_INVESTIGATION = "criminal_investigation"
    INQUEST = "inquest"  # the coroner's investigation
    FAMILY_COURT_CAFCASS = "family_court_cafcass"
    PREVENT = "prevent"


# The other reviews: those the principles of Appendix 3 would have run "joint or parallel". An
# investigation, an inquest, proceedings or a notification runs alongside, never jointly.
REVIEW_KINDS: frozenset[ProcessKind] = frozenset({
    ProcessKind.DHR, ProcessKind.SAR, ProcessKind.MAPPA_SCR, ProcessKind.SFO})


class Arrangement(StrEnum):
    JOINT = "joint"
    PARALLEL = "parallel"
    NOT_DECIDED = "not_decided"


class ProcessStatus(StrEnum):
    OPEN = "open"
    ENDED = "ended"


class Relationship(StrEnum):
    """The suspected perpetrator's relationship to the person who died (DHR: s9(3) DVCVA 2004)."""

    RELATIVE = "relative"
    INTIMATE_PARTNER = "intimate_partner"  # is or has been in an intimate personal relationship
    HOUSEHOLD_MEMBER = "household_member"
    OTHER = "other"
    UNKNOWN = "unknown"


class Offence(StrEnum):
    """The offences Appendix 3 lists for a MAPPA SCR or a YJB notification; `other` for any
    offence on neither list."""

    MURDER = "murder"
    ATTEMPTED_MURDER = "attempted_murder"
    MANSLAUGHTER = "manslaughter"
    RAPE = "rape"
    ATTEMPTED_RAPE = "attempted_rape"
    GBH_OR_WOUNDING = "gbh_or_wounding"  # grievous bodily harm or wounding, s18 or s20
    TERRORISM = "terrorism"  # a terrorism-related offence
    OTHER = "other"


class AdultHarm(StrEnum):
    """What happened to an adult with care and support needs (SAR criteria 3 and 4)."""

    DIED = "died"  # died, and abuse or neglect is known or suspected
    SERIOUS_ABUSE_OR_NEGLECT = "serious_abuse_or_neglect"  # did not die


_O = Offence
# "The offence is murder, attempted murder, manslaughter, rape, or attempted rape."
MAPPA_SCR_OFFENCES = frozenset({_O.MURDER, _O.ATTEMPTED_MURDER, _O.MANSLAUGHTER, _O.RAPE,
                                _O.ATTEMPTED_RAPE})
MAPPA_SCR_LEVELS = frozenset({2, 3})
MAPPA_SCR_WITHIN_DAYS = 28  # at level 2 or 3 "at any time in the 28 days before the offence"
# The YJB's notifiable charges as Appendix 3 lists them (attempted rape is not among them).
YJB_OFFENCES = frozenset({_O.ATTEMPTED_MURDER, _O.MURDER, _O.MANSLAUGHTER, _O.RAPE,
                          _O.GBH_OR_WOUNDING, _O.TERRORISM})
YJB_AFTER_SUPERVISION_DAYS = 20  # "up to 20 calendar days following the end of YJS supervision"
YJB_WITHIN_WORKING_DAYS = 1  # "within one working day of a YJS becoming aware"
# The SFO framework covers "a specified violent, sexual or terrorist offence": every listed one.
SFO_OFFENCES = frozenset(set(Offence) - {_O.OTHER})
DHR_MIN_AGE = 16  # "the death of a person aged 16 or over"
ADULT_AGE = 18
DHR_RELATIONSHIPS = frozenset({Relationship.RELATIVE, Relationship.INTIMATE_PARTNER,
                               Relationship.HOUSEHOLD_MEMBER})


def _example(**fields: Any) -> ConfigDict:
    return ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [fields]})


class CaseFacts(BaseModel):
    """What is known that decides which other processes may apply; every fact is optional.

    Recorded as a whole: a new record replaces the last. Facts left out that Doc 1 holds (a
    death, the child's date of birth, the incident date) are taken from it.
    """

    model_config = _example(
        victim_died=True, perpetrator_relationship="household_member", offence="murder",
        mappa_level=1, mappa_days_since_level_2_or_3=12, criminal_investigation=True,
        inquest_opened=True)

    victim_died: bool | None = Field(
        None, description="Someone died: the child, or another person; Doc 1's harm 'death' "
                          "counts when left out")
    victim_age_at_death: int | None = Field(
        None, ge=0, le=130, description="The age of the person who died; when left out, the "
                                        "notified child's age on the incident date (one child)")
    perpetrator_relationship: Relationship | None = Field(
        None, description="The suspected perpetrator's relationship to the person who died")
    offence: Offence | None = Field(
        None, description="The offence committed, or charged, by the suspected perpetrator")
    mappa_level: int | None = Field(
        None, ge=1, le=3, description="The perpetrator is a MAPPA offender, managed at this "
                                      "level when the offence was committed")
    mappa_days_since_level_2_or_3: int | None = Field(
        None, ge=0, le=36500, description="Days from the last day the offender was managed at "
                                          "level 2 or 3 to the offence; 0 if on the day")
    probation_supervised: bool | None = Field(
        None, description="The perpetrator is under the management of the Probation Service")
    yjs_on_caseload: bool | None = Field(
        None, description="The child is on a youth justice service's caseload")
    yjs_supervision_ended_on: PlanDate | None = Field(
        None, description="The day the child's YJS supervision ended, if it has")
    child_died_on: PlanDate | None = Field(
        None, description="When the child died; Doc 1's incident date for a death when left out")
    child_charged_with: Offence | None = Field(
        None, description="The offence the child is charged with")
    child_charged_on: PlanDate | None = None
    yjs_aware_on: PlanDate | None = Field(
        None, description="When the YJS became aware of the death or the charge")
    adult_care_and_support_needs: bool | None = Field(
        None, description="An adult with needs for care and support is involved")
    adult_harm: AdultHarm | None = Field(
        None, description="That adult died of, or experienced, serious abuse or neglect")
    agencies_concern: bool | None = Field(
        None, description="There is concern about how agencies worked together to protect "
                          "that adult")
    radicalisation_concern: bool | None = None
    family_proceedings: bool | None = Field(
        None, description="Family Court proceedings concern the child (Cafcass involved)")
    criminal_investigation: bool | None = None
    inquest_opened: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CaseFacts:
        if self.victim_died is False and self.victim_age_at_death is not None:
            raise ValueError("victim_age_at_death: given, but victim_died is false")
        if self.mappa_days_since_level_2_or_3 is not None:
            if self.mappa_level is None:
                raise ValueError("mappa_days_since_level_2_or_3: give mappa_level too")
            if self.mappa_level in MAPPA_SCR_LEVELS and self.mappa_days_since_level_2_or_3:
                raise ValueError("mappa_days_since_level_2_or_3: must be 0 for an offender "
                                 "managed at level 2 or 3 when the offence was committed")
        if self.yjs_on_caseload and self.yjs_supervision_ended_on is not None:
            raise ValueError("yjs_supervision_ended_on: the child is still on the caseload")
        if self.child_charged_on is not None and self.child_charged_with is None:
            raise ValueError("child_charged_on: give child_charged_with too")
        if self.adult_harm is not None and self.adult_care_and_support_needs is False:
            raise ValueError("adult_harm: given, but adult_care_and_support_needs is false")
        events = [d for d in (self.child_died_on, self.child_charged_on) if d is not None]
        if self.yjs_aware_on is not None and events and self.yjs_aware_on < min(events):
            raise ValueError("yjs_aware_on: is before the death or the charge it is about")
        return self

    def dates(self) -> dict[str, date]:
        """The facts' dates by field name, for the check that none is in the future."""
        fields = ("yjs_supervision_ended_on", "child_died_on", "child_charged_on", "yjs_aware_on")
        return {f: d for f in fields if (d := getattr(self, f)) is not None}


class ProcessRecord(BaseModel):
    """What the case records of one other process: its lead, the liaison agreed with them,
    and whether the reviews are joint or parallel."""

    model_config = _example(
        lead="North Lincolnshire Community Safety Partnership (chair)",
        liaison_agreed=True, liaison="Monthly meeting of the two review chairs",
        arrangement="parallel", status="open", started_on="2026-11-20")

    lead: Name = Field(description="The organisation, or the role, leading the process")
    liaison_agreed: bool = False
    liaison: Text | None = Field(None, description="The liaison agreed: who, how, how often")
    arrangement: Arrangement = Arrangement.NOT_DECIDED
    status: ProcessStatus = ProcessStatus.OPEN
    started_on: PlanDate | None = None
    ended_on: PlanDate | None = None
    notes: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ProcessRecord:
        if self.liaison_agreed and self.liaison is None:
            raise ValueError("liaison: say what liaison was agreed")
        if self.status is ProcessStatus.ENDED and self.ended_on is None:
            raise ValueError("ended_on: required when the status is ended")
        if self.status is ProcessStatus.OPEN and self.ended_on is not None:
            raise ValueError("ended_on: given, but the status is open")
        if self.started_on and self.ended_on and self.ended_on < self.started_on:
            raise ValueError("ended_on: is before started_on")
        return self


class ParallelProcess(ProcessRecord):
    """One other process running alongside the CSPR: one per kind in a case."""

    kind: ProcessKind

    @model_validator(mode="after")
    def _joint_only_for_reviews(self) -> ParallelProcess:
        if self.arrangement is Arrangement.JOINT and self.kind not in REVIEW_KINDS:
            raise ValueError("arrangement: only a review (dhr, sar, mappa_scr, sfo) can be "
                             "joint with the CSPR; this process runs alongside it")
        return self


class Suggestion(BaseModel):
    """A process the facts suggest may apply, and the rule of Appendix 3 that says so."""

    kind: ProcessKind
    reason: str
    mandatory: bool = Field(description="The rule requires it: not for the partners' judgement")
    due_working_days: int | None = Field(
        None, description="Due within this many working days of `due_from`")
    due_from: date | None = Field(
        None, description="The day the working days count from, once it is known")


class FactsDecision(BaseModel):
    """The facts and who recorded them: a `DecisionMessage` once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record: CaseFacts
    actor: Actor | None = None


class ProcessDecision(BaseModel):
    """One process's record and who made it: a `DecisionMessage` once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record: ParallelProcess
    actor: Actor | None = None


class ParallelReviews(BaseModel):
    """A case's other processes (Appendix 3): the facts recorded, and each process's record."""

    facts: CaseFacts = Field(default_factory=CaseFacts)
    facts_recorded_at: AwareDatetime | None = None
    processes: list[ParallelProcess] = Field(default_factory=list)

    def process(self, kind: ProcessKind) -> ParallelProcess | None:
        return next((p for p in self.processes if p.kind is kind), None)

    def check_facts(self, facts: CaseFacts, now: datetime) -> None:
        """Raise InvalidRecord naming the field if the facts cannot be recorded now."""
        for field, on in facts.dates().items():
            _not_in_future(field, on, now)

    def record_facts(self, facts: CaseFacts, now: datetime) -> None:
        self.check_facts(facts, now)
        self.facts = facts
        self.facts_recorded_at = now

    def check_process(self, process: ParallelProcess, now: datetime) -> None:
        """Raise InvalidRecord naming the field if the process cannot be recorded now."""
        for field in ("started_on", "ended_on"):
            on = getattr(process, field)
            if on is not None:
                _not_in_future(field, on, now)

    def record_process(self, process: ParallelProcess, now: datetime) -> bool:
        """Record a process, replacing the kind's last record; True if it replaced one."""
        self.check_process(process, now)
        replaced = self.process(process.kind) is not None
        self.processes = [p for p in self.processes if p.kind is not process.kind]
        self.processes.append(process)
        return replaced


Validated = TypeVar("Validated", bound=BaseModel)


def _invalid(field: str, reason: str) -> InvalidRecord:
    # Imported here: `domain.case` holds a ParallelReviews, so it imports this module first.
    from domain.case import InvalidRecord

    return InvalidRecord(field, reason)


def _not_in_future(field: str, on: date, now: datetime) -> None:
    if on > latest_london_date(now):
        raise _invalid(field, "is in the future")


def _parse(model: type[Validated], message: DecisionMessage) -> Validated:
    """Validate a message; InvalidRecord names the first bad field, never its value."""
    try:
        return model.model_validate(message.model_dump())
    except ValidationError as e:
        error = e.errors()[0]
        msg = str(error["msg"]).removeprefix("Value error, ")
        field = ".".join(str(p) for p in error["loc"] if p != "record")
        if not field:
            # A rule across fields says "field: reason" (the model validators above).
            field, sep, reason = msg.partition(": ")
            if sep:
                raise _invalid(field, reason) from None
            field = "record"
        raise _invalid(field, msg) from None


def parse_facts(message: DecisionMessage) -> FactsDecision:
    return _parse(FactsDecision, message)


def parse_process(message: DecisionMessage) -> ProcessDecision:
    return _parse(ProcessDecision, message)


# -- suggestions ---------------------------------------------------------------------------


def suggest(facts: CaseFacts, case: CaseState) -> list[Suggestion]:
    """The processes the facts (and Doc 1) suggest may apply, each with the rule it meets."""
    found = [
        _dhr(facts, case), *_mappa_scr(facts), _sfo(facts), _sar(facts), _yjb(facts, case),
        _when(facts.criminal_investigation, ProcessKind.CRIMINAL_INVESTIGATION,
              "A criminal investigation is under way: liaise with the police so the review and "
              "the investigation run concurrently (Yorkshire and Humber working principles, "
              "Appendix 3). It, or a prosecution that follows, may delay the publication of an "
              "LCSPR: the Panel and the Secretary of State are told the reasons."),
        _when(facts.inquest_opened, ProcessKind.INQUEST,
              "An inquest is opened: liaise with the coroner (Appendix 3). It may delay the "
              "publication of an LCSPR: the Panel and the Secretary of State are told the "
              "reasons."),
        _when(facts.family_proceedings, ProcessKind.FAMILY_COURT_CAFCASS,
              "Family Court proceedings concern the child: liaise with the court and Cafcass "
              "(the Panel's practice guidance on interdependencies, Appendix 3)."),
        _when(facts.radicalisation_concern or Offence.TERRORISM in (
              facts.offence, facts.child_charged_with), ProcessKind.PREVENT,
              "Radicalisation or extremism may be a concern: liaise with Prevent (the Panel's "
              "practice guidance on interdependencies, Appendix 3)."),
    ]
    return [s for s in found if s is not None]


def _when(fact: bool | None, kind: ProcessKind, reason: str) -> Suggestion | None:
    return Suggestion(kind=kind, reason=reason, mandatory=False) if fact else None


def _notified_death(case: CaseState) -> bool:
    return case.notification is not None and case.notification.incident.harm is Harm.DEATH


def victim_age(facts: CaseFacts, case: CaseState) -> int | None:
    """The age of the person who died: as recorded, or else the one notified child's age on
    the incident date of a notified death."""
    if facts.victim_age_at_death is not None:
        return facts.victim_age_at_death
    if not _notified_death(case) or facts.victim_died is False or case.notification is None:
        return None
    children = case.notification.children
    born = children[0].date_of_birth if len(children) == 1 else None
    if born is None:
        return None  # several children: which one died is not in Doc 1
    on = case.notification.incident.date
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _dhr(facts: CaseFacts, case: CaseState) -> Suggestion | None:
    died = facts.victim_died if facts.victim_died is not None else _notified_death(case)
    age = victim_age(facts, case)
    if not died or age is None or age < DHR_MIN_AGE:
        return None
    if facts.perpetrator_relationship not in DHR_RELATIONSHIPS:
        return None
    reason = ("A person aged 16 or over died, and the death appears to have resulted from "
              "violence, abuse or neglect by a relative, an intimate partner or a member of the "
              "same household: the chair of the Community Safety Partnership decides on a "
              "domestic homicide review (s9(3) Domestic Violence, Crime and Victims Act 2004; "
              "Appendix 3).")
    if age < ADULT_AGE:
        reason += (" The victim was under 18: consider how the reviews can be managed in "
                   "parallel or commissioned jointly (DHR statutory guidance, Appendix 3).")
    return Suggestion(kind=ProcessKind.DHR, reason=reason, mandatory=False)


def _mappa_scr(facts: CaseFacts) -> list[Suggestion]:
    level, offence = facts.mappa_level, facts.offence
    if level is None or offence not in MAPPA_SCR_OFFENCES:
        return []
    days = facts.mappa_days_since_level_2_or_3
    if level in MAPPA_SCR_LEVELS or (days is not None and days <= MAPPA_SCR_WITHIN_DAYS):
        return [Suggestion(
            kind=ProcessKind.MAPPA_SCR, mandatory=True,
            reason="The MAPPA offender was managed at level 2 or 3 when the offence was "
                   "committed or in the 28 days before, and the offence is murder, attempted "
                   "murder, manslaughter, rape or attempted rape: the MAPPA Strategic "
                   "Management Board must commission a MAPPA serious case review (Appendix 3).")]
    return [Suggestion(
        kind=ProcessKind.MAPPA_SCR, mandatory=False,
        reason="A MAPPA offender managed at level 1 is charged with murder, manslaughter, rape "
               "or an attempt to commit murder or rape: the MAPPA Strategic Management Board "
               "may commission a discretionary MAPPA serious case review (Appendix 3).")]


def _sfo(facts: CaseFacts) -> Suggestion | None:
    if not facts.probation_supervised or facts.offence not in SFO_OFFENCES:
        return None
    return Suggestion(
        kind=ProcessKind.SFO, mandatory=False,
        reason="A person under the management of the Probation Service is charged with a "
               "violent, sexual or terrorist offence: liaise with the Head of Probation Service "
               "(Yorkshire and Humber) on whether a serious further offence review is being "
               "undertaken (Appendix 3).")


def _sar(facts: CaseFacts) -> Suggestion | None:
    if not facts.adult_care_and_support_needs:
        return None
    if facts.adult_harm is not None and facts.agencies_concern:
        return Suggestion(
            kind=ProcessKind.SAR, mandatory=True,
            reason="An adult with needs for care and support died, or experienced serious "
                   "abuse or neglect, and there is concern about how agencies worked together "
                   "to protect them: the Safeguarding Adults Board must arrange a safeguarding "
                   "adults review (Appendix 3).")
    return Suggestion(
        kind=ProcessKind.SAR, mandatory=False,
        reason="An adult with needs for care and support is involved: the Safeguarding Adults "
               "Board may arrange a safeguarding adults review, on the SAR Executive Group's "
               "recommendation (Appendix 3).")


def on_yjs_caseload(facts: CaseFacts, on: date) -> bool:
    """The child was on the YJS caseload on `on`, or within 20 calendar days after it ended."""
    if facts.yjs_on_caseload:
        return True
    ended = facts.yjs_supervision_ended_on
    return ended is not None and (on - ended).days <= YJB_AFTER_SUPERVISION_DAYS


def _yjb(facts: CaseFacts, case: CaseState) -> Suggestion | None:
    died_on = facts.child_died_on
    if died_on is None and _notified_death(case) and case.notification is not None:
        died_on = case.notification.incident.date
    died = died_on is not None and on_yjs_caseload(facts, died_on)
    charged_on = facts.child_charged_on
    charged = facts.child_charged_with in YJB_OFFENCES and bool(
        facts.yjs_on_caseload or (charged_on is not None and on_yjs_caseload(facts, charged_on)))
    if not (died or charged):
        return None
    what = ("died" if died else "is charged with a notifiable offence (attempted murder, murder "
            "or manslaughter, rape, GBH or wounding s18/20, or a terrorism-related offence)")
    # "Within 24 hours of the charge being made or, in the case of the death of a child, the
    # date the service became aware of that death": within one working day of becoming aware.
    due_from = facts.yjs_aware_on or (facts.child_charged_on if not died else None)
    return Suggestion(
        kind=ProcessKind.YJB_NOTIFICATION, mandatory=True,
        due_working_days=YJB_WITHIN_WORKING_DAYS, due_from=due_from,
        reason=f"The child {what} while on the youth justice caseload or within 20 calendar "
               "days after supervision ended: the youth justice service must notify the Youth "
               "Justice Board within one working day of becoming aware (Appendix 3).")

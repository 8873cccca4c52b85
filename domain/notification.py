"""A notification of a serious child safeguarding incident (Doc 1)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.calendar import london_date
from domain.service_rules import MAX_CHILDREN_LIMIT
from domain.text import ERASABLE, MULTI_LINE

# Free text of a request or message: checked for control characters where it enters, not here
# (domain/text.py: text already in a case is never judged again).
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
                 MULTI_LINE]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 MULTI_LINE]
# A person outside the professions named in a record (a family member): a Name the retention
# schedule erases with the case record, as free text.
PersonName = Annotated[Name, ERASABLE]
# A date of the past a person gives (an incident, a birth, a step done): none is before 1900.
EARLIEST_DATE = date(1900, 1, 1)
PastDate = Annotated[date, Field(ge=EARLIEST_DATE)]
Reference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w\-/.]+$"),
]


class Harm(StrEnum):
    DEATH = "death"
    SERIOUS_HARM = "serious_harm"


class AbuseOrNeglect(StrEnum):
    KNOWN = "known"
    SUSPECTED = "suspected"
    # Only for the death of a looked after child or a care leaver: the statutory notices are
    # owed "whether or not abuse or neglect is known or suspected" (issue 9, item 7).
    NOT_SUSPECTED = "not_suspected"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Incident(Strict):
    date: PastDate
    harm: Harm
    abuse_or_neglect: AbuseOrNeglect
    summary: Text | None = None


class Child(Strict):
    reference: Reference = Field(description="The notifier's reference for the child")
    date_of_birth: PastDate | None = None
    looked_after: bool | None = Field(None, description="Looked after by a local authority")
    care_leaver: bool | None = None


class Notification(Strict):
    received_at: AwareDatetime = Field(description="When the MARS team received Doc 1")
    notifying_agency: Name
    incident: Incident
    children: list[Child] = Field(min_length=1, max_length=MAX_CHILDREN_LIMIT)
    partners_consider_criteria: bool = Field(
        False, description="A looked after child's death with no abuse or neglect suspected "
        "opens the statutory notices only; true if the partners also consider the CSPR "
        "criteria (Flowcharts 1 and 2)")
    la_aware_at: AwareDatetime | None = Field(
        None, description="When the local authority became aware of the incident, if earlier "
        "than receipt: the Panel notification's statutory 5 working days count from it")

    @model_validator(mode="after")
    def _consistent(self) -> Notification:
        refs = [c.reference for c in self.children]
        if len(set(refs)) != len(refs):
            raise ValueError("children: each child's reference must be different")
        for child in self.children:
            if child.date_of_birth and child.date_of_birth > self.incident.date:
                raise ValueError("children: a date of birth is after the incident date")
        if self.incident.date > london_date(self.received_at):
            raise ValueError("incident.date: after the notification was received")
        if self.incident.abuse_or_neglect is AbuseOrNeglect.NOT_SUSPECTED and not (
                self.incident.harm is Harm.DEATH
                and any(c.looked_after or c.care_leaver for c in self.children)):
            raise ValueError("incident.abuse_or_neglect: not_suspected is only for the death of "
                             "a looked after child or a care leaver (the statutory notices)")
        if self.la_aware_at is not None:
            if self.la_aware_at > self.received_at:
                raise ValueError("la_aware_at: after the notification was received")
            if london_date(self.la_aware_at) < self.incident.date:
                raise ValueError("la_aware_at: before the incident")
        return self

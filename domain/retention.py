"""Retention: how long each kind of record keeps its personal details once the case has closed,
and what anonymising a case's record takes out of it.

Anonymising keeps what the Board's statistics need (the kind of case, its stages and outcome,
its steps' due and completion dates and whether statutory, the looked-after and care-leaver
flags, the audit trail's kinds, times and roles) and takes out what identifies a child or
tells their story: children's references and dates of birth, every free-text field (the
domain's `Text`), documents' contents and e-mail bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel

from domain.notification import Reference, Text
from domain.text import ERASABLE

# Valid wherever it goes (a reference's pattern, a text's length): an anonymised record still reads.
ERASED = "erased"
# The procedure: the final report is "published for at least one year"; the letters and
# documents that go with it are kept at least as long.
MIN_PUBLISHED_DAYS = 365
# Text's and Reference's StringConstraints, and the mark of a state's free text kept as a str.
_FREE_TEXT = (get_args(Text)[1], get_args(Reference)[1], ERASABLE)
_DATES_OF_BIRTH = ("date_of_birth",)


class RecordKind(StrEnum):
    """The kinds of record kept, each with its own period (CSPR_RETENTION_*_DAYS)."""

    CASE_RECORD = "case_record"  # children's details and free text in the case and its parts
    DOCUMENTS = "documents"  # the letters and forms (.docx) kept with the case
    EMAIL_BODIES = "email_bodies"  # the text of the e-mails sent
    AUDIT = "audit"  # the audit trail's details and who (a person) made each entry


@dataclass(frozen=True)
class RetentionSchedule:
    """Days each kind of record keeps its personal details after the case closed."""

    case_record_days: int
    documents_days: int
    email_bodies_days: int
    audit_days: int
    idempotency_days: int  # counted from the request, not from the case

    def __post_init__(self) -> None:
        for kind in RecordKind:
            if self.days(kind) < MIN_PUBLISHED_DAYS:
                raise ValueError(f"CSPR_RETENTION_{kind.upper()}_DAYS: at least "
                                 f"{MIN_PUBLISHED_DAYS} (the report is published for at least "
                                 "a year after the case closes)")
        if self.idempotency_days < 1:
            raise ValueError("CSPR_RETENTION_IDEMPOTENCY_DAYS: at least 1")

    def days(self, kind: RecordKind) -> int:
        return int(getattr(self, f"{kind.value}_days"))

    def due(self, kind: RecordKind, closed_on: date) -> date:
        """The first day the record may be anonymised."""
        return closed_on + timedelta(days=self.days(kind))


def _mentions_free_text(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return any(meta in _FREE_TEXT for meta in annotation.__metadata__)
    return any(_mentions_free_text(arg) for arg in get_args(annotation))


def _erased(value: Any) -> Any:
    if isinstance(value, str):
        return ERASED
    if isinstance(value, list):
        return [_erased(v) for v in value]
    if isinstance(value, dict):
        return {k: _erased(v) for k, v in value.items()}
    return value  # None stays None


def _walk(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return anonymise(value)
    if isinstance(value, list):
        return [_walk(v) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v) for k, v in value.items()}
    return value


def anonymise(model: BaseModel) -> BaseModel:
    """A copy with every free-text field and child's reference erased and dates of birth
    removed, all else kept."""
    updates: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if name in _DATES_OF_BIRTH:
            updates[name] = None
        elif (any(meta in _FREE_TEXT for meta in info.metadata)
              or _mentions_free_text(info.annotation)):
            updates[name] = _erased(value)
        else:
            walked = _walk(value)
            if walked is not value:
                updates[name] = walked
    return model.model_copy(update=updates)


# Seven years for the case record, its documents and its audit trail (a common term for
# safeguarding review records; the Board sets its own), two for e-mail bodies.
DEFAULT_SCHEDULE = RetentionSchedule(case_record_days=7 * 365 + 2, documents_days=7 * 365 + 2,
                                     email_bodies_days=2 * 365 + 1, audit_days=7 * 365 + 2,
                                     idempotency_days=30)

"""STAND-IN for the `letters` branch (deleted before the branch is reported): the interface
mail codes against, as that branch defines it (Addressee, Letter, LetterKind, ComposeError,
compose), with a minimal .docx."""

from __future__ import annotations

import io
from datetime import date
from enum import StrEnum

from docx import Document
from pydantic import BaseModel, ConfigDict

from domain.case import CaseState
from domain.notification import Name


class LetterKind(StrEnum):
    DOC2 = "doc2"
    DOC3 = "doc3"
    DOC4 = "doc4"
    RAPID_REVIEW_REQUEST = "rapid_review_request"
    AGENCY_REPORT_TEMPLATE = "agency_report_template"
    DOC12 = "doc12"


_ADDRESSED = {LetterKind.DOC2, LetterKind.DOC3, LetterKind.RAPID_REVIEW_REQUEST,
              LetterKind.AGENCY_REPORT_TEMPLATE}


class ComposeError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Addressee(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: Name
    organisation: Name
    role: Name


class Letter(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: LetterKind
    filename: str
    content: bytes


def compose(
    kind: LetterKind, case: CaseState, addressee: Addressee | None, issued_on: date
) -> Letter:
    """A minimal .docx naming the letter, the case and the addressee."""
    if kind in _ADDRESSED and addressee is None:
        raise ComposeError("addressee", f"is required for {kind.value}")
    if kind is LetterKind.DOC12 and case.meeting() is None:
        raise ComposeError("case", "the rapid review meeting is not recorded yet")
    document = Document()
    document.add_heading(f"{kind.value} - {case.case_id}", level=1)
    document.add_paragraph(f"Issued on {issued_on.isoformat()}")
    parts = [case.case_id, kind.value.replace("_", "-")]
    if addressee is not None:
        document.add_paragraph(f"To {addressee.name}, {addressee.role}, {addressee.organisation}")
        parts.append(addressee.organisation.lower().replace(" ", "-"))
    out = io.BytesIO()
    document.save(out)
    return Letter(kind=kind, filename="-".join(parts) + ".docx", content=out.getvalue())

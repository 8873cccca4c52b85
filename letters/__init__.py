"""STAND-IN for the `letters` branch (deleted when it lands): the signature mail codes against.

compose(kind, case, addressee, issued_on) -> Letter(kind, filename, content: .docx bytes).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from docx import Document

from domain.case import CaseState


class LetterKind(StrEnum):
    DOC2 = "doc2"
    DOC3 = "doc3"
    DOC4 = "doc4"
    RAPID_REVIEW_REQUEST = "rapid_review_request"
    AGENCY_REPORT_TEMPLATE = "agency_report_template"
    DOC12 = "doc12"


@dataclass(frozen=True)
class Addressee:
    name: str
    organisation: str
    role: str


@dataclass(frozen=True)
class Letter:
    kind: LetterKind
    filename: str
    content: bytes


def compose(
    kind: LetterKind, case: CaseState, addressee: Addressee | None, issued_on: date
) -> Letter:
    """A minimal .docx naming the letter, the case and the addressee."""
    document = Document()
    document.add_heading(f"{kind.value} - {case.case_id}", level=1)
    document.add_paragraph(f"Issued on {issued_on.isoformat()}")
    if addressee is not None:
        document.add_paragraph(f"To {addressee.name}, {addressee.organisation}")
    out = io.BytesIO()
    document.save(out)
    return Letter(kind, f"{case.case_id}-{kind.value}.docx", out.getvalue())

"""Compose one of the procedure's letters for a case, as a .docx people can open and edit."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from enum import StrEnum
from functools import cache
from importlib import resources

import docx
from docx.document import Document
from pydantic import BaseModel, ConfigDict

from domain.case import CaseState
from domain.decisions import SslRecommendation
from domain.notification import Name
from domain.procedure import Partner
from letters import values as v
from letters.template import Template, Value


class LetterKind(StrEnum):
    """The documents of Appendix 1, Flowcharts 1 and 2, that the service writes."""

    DOC2 = "doc2"  # Letter to Safeguarding Partners (the DSPs) - Notification
    DOC3 = "doc3"  # Letter to Safeguarding Senior Leads - Notification
    DOC4 = "doc4"  # Recommendation to Safeguarding Partners and their decision record (A, B)
    RAPID_REVIEW_REQUEST = "rapid_review_request"  # the letter to each agency
    AGENCY_REPORT_TEMPLATE = "agency_report_template"  # the form the agency returns
    DOC12 = "doc12"  # Letter: Decision of the Rapid Review of a Serious Child Safeguarding Incident
    RAPID_REVIEW_REPORT = "rapid_review_report"  # the chair's report, on its template (issue 9)
    # The LCSPR's own (Flowchart 3; issue 9): filled from the review (`compose(review=...)`).
    LCSPR_NOTICE = "lcspr_notice"  # to the Panel, Ofsted and DfE when it starts
    LCSPR_FULL_REPORT = "lcspr_full_report"  # the full report to the Panel, SoS and Ofsted
    LCSPR_DELAY = "lcspr_delay"  # a delay's reasons to the Panel and the Secretary of State


TITLES: dict[LetterKind, str] = {
    LetterKind.DOC2: "Doc 2 - Letter to Safeguarding Partners - Notification",
    LetterKind.DOC3: "Doc 3 - Letter to Safeguarding Senior Leads - Notification",
    LetterKind.DOC4: "Doc 4 - Recommendation to Safeguarding Partners and their decision record",
    LetterKind.RAPID_REVIEW_REQUEST: "Rapid review - request for an agency report",
    LetterKind.AGENCY_REPORT_TEMPLATE: "Template for Agency report for rapid review",
    LetterKind.DOC12: "Doc 12 - Letter Decision of the Rapid Review of a Serious Child "
                      "Safeguarding Incident",
    LetterKind.RAPID_REVIEW_REPORT: "Rapid Review Report",
    LetterKind.LCSPR_NOTICE: "Notice of a local child safeguarding practice review",
    LetterKind.LCSPR_FULL_REPORT: "The full report of a local child safeguarding practice review",
    LetterKind.LCSPR_DELAY: "A delay in publishing a local child safeguarding practice review",
}
# The LCSPR's letters: filled from the review's values, never the child's details.
REVIEW_LETTERS = frozenset({LetterKind.LCSPR_NOTICE, LetterKind.LCSPR_FULL_REPORT,
                            LetterKind.LCSPR_DELAY})
# Letters that go to someone by name: they cannot be written without knowing to whom.
_ADDRESSED = {LetterKind.DOC2, LetterKind.DOC3, LetterKind.RAPID_REVIEW_REQUEST,
              LetterKind.AGENCY_REPORT_TEMPLATE}
# Doc 12 goes to the national Panel unless someone else is named.
_PANEL = ("Panel Chair", "Chair", "Child Safeguarding Practice Review Panel")
_AUTHOR = "Children's MARS Team"
_ZIP_YEARS = (1980, 2107)


class ComposeError(Exception):
    """The letter cannot be written: names the field and why, never the case's data."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Addressee(BaseModel):
    """Who a letter goes to (a DSP, an SSL, an agency's lead)."""

    model_config = ConfigDict(frozen=True)

    name: Name
    organisation: Name
    role: Name


class Letter(BaseModel):
    """A composed letter: a .docx, named without any personal data."""

    # Base64 in JSON, so a Letter can be an activity's result (bytes are UTF-8 by default).
    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    kind: LetterKind
    filename: str
    content: bytes


def compose(
    kind: LetterKind, case: CaseState, addressee: Addressee | None, issued_on: date,
    partner_names: Mapping[Partner, str] | None = None,
    review: Mapping[str, Value] | None = None,
) -> Letter:
    """Write `kind` for `case` to `addressee`, dated `issued_on`; the same inputs, the same bytes.
    `partner_names`: the safeguarding partners as the partner directory names them (Doc 4);
    a partner not given is named as the procedure names it. `review`: an LCSPR letter's values
    (its dates, reviewer, a delay's reasons), from the review.

    Raises ComposeError when the letter needs an addressee it was not given, or something the
    case does not hold yet (a due date, the rapid review meeting).
    """
    if kind in _ADDRESSED and addressee is None:
        raise ComposeError("addressee", f"is required for {kind.value}")
    if not _ZIP_YEARS[0] <= issued_on.year <= _ZIP_YEARS[1]:
        raise ComposeError("issued_on", "must be between 1980 and 2107 (a .docx is a zip file)")
    try:
        filled = fill(kind, case, addressee, issued_on, partner_names, review)
    except v.NotReady as e:
        raise ComposeError("case", e.reason) from None
    document = docx.Document()
    _properties(document, kind, case, issued_on)
    template(kind).render(document, filled)
    buffer = io.BytesIO()
    document.save(buffer)
    return Letter(kind=kind, filename=filename(kind, case, addressee),
                  content=_fixed_zip(buffer.getvalue(), issued_on))


@cache
def template(kind: LetterKind) -> Template:
    """The parsed template of `kind`, read from letters/templates/<kind>.txt."""
    text = resources.files("letters").joinpath("templates", f"{kind.value}.txt").read_text(
        encoding="utf-8")
    return Template.parse(f"{kind.value}.txt", text)


def filename(kind: LetterKind, case: CaseState, addressee: Addressee | None) -> str:
    """CSPR-2026-0001-doc2-health.docx: the case number, the kind (Doc 4 with the part it
    holds) and the addressee's organisation (never a person's name or the child's
    reference)."""
    parts = [case.case_id, kind.value.replace("_", "-")]
    if kind is LetterKind.DOC4 and (part := _doc4_part(case)):
        parts.append(part)
    if addressee is not None and (slug := _slug(addressee.organisation)):
        parts.append(slug)
    return "-".join(parts) + ".docx"


def _doc4_part(case: CaseState) -> str | None:
    """Which version of Doc 4 this is (issue 9's bugs: "Three versions of Doc 4 share one
    filename"): the blank form sent with Docs 2 and 3, with Part A (the SSLs'
    recommendation), or with Part B (the partners' decisions)."""
    if case.dsp_decisions():
        return "part-b"
    if any(isinstance(r, SslRecommendation) for r in case.records):
        return "part-a"
    return None


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0] if "-" in slug[:limit] else slug[:limit]
    return slug


def fill(
    kind: LetterKind, case: CaseState, addressee: Addressee | None, issued_on: date,
    partner_names: Mapping[Partner, str] | None = None,
    review: Mapping[str, Value] | None = None,
) -> dict[str, Value]:
    """The values `kind`'s template is filled with; NotReady if the case lacks one."""
    filled = v.common(case, issued_on)
    if addressee is not None:
        filled |= v.addressee_values(addressee.name, addressee.role, addressee.organisation)
    match kind:
        case LetterKind.DOC2 | LetterKind.DOC3:
            filled |= v.case_details(case) | v.decision_dates(case, required=True)
        case LetterKind.DOC4:
            filled |= (v.case_details(case) | v.decision_dates(case, required=False)
                       | v.part_a(case) | v.part_b(case, partner_names))
        case LetterKind.RAPID_REVIEW_REQUEST | LetterKind.AGENCY_REPORT_TEMPLATE:
            filled |= v.rapid_review(case)
        case LetterKind.DOC12:
            if addressee is None:
                filled |= v.addressee_values(*_PANEL)
            filled |= v.doc12(case)
        case LetterKind.RAPID_REVIEW_REPORT:
            # The child in full, as Doc 4: the report goes to the partners and the Panel.
            filled |= (v.rapid_review(case) | v.doc12(case) | v.case_details(case)
                       | v.agency_reports(case))
        case LetterKind.LCSPR_NOTICE | LetterKind.LCSPR_FULL_REPORT | LetterKind.LCSPR_DELAY:
            filled |= v.review_letter(review)
    return filled


def _properties(
    document: Document, kind: LetterKind, case: CaseState, issued_on: date
) -> None:
    """Core properties from the inputs alone, so a retry writes the same bytes."""
    props = document.core_properties
    stamp = datetime.combine(issued_on, time(0, 0), tzinfo=UTC)
    props.title = f"{case.case_id} {TITLES[kind]}"
    props.subject = TITLES[kind]
    props.author = _AUTHOR
    props.last_modified_by = _AUTHOR
    props.comments = ""
    props.keywords = ""
    props.category = ""
    props.revision = 1
    props.created = stamp
    props.modified = stamp


def _fixed_zip(content: bytes, issued_on: date) -> bytes:
    """The package again with every entry dated `issued_on` (zipfile stamps the wall clock)."""
    out = io.BytesIO()
    stamp = (issued_on.year, issued_on.month, issued_on.day, 0, 0, 0)
    with zipfile.ZipFile(io.BytesIO(content)) as source, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0o600 << 16
            target.writestr(info, source.read(entry.filename))
    return out.getvalue()

"""The case file: the documents the procedure names that people bring to a case (issue 9, "The
case file"), and what a file's bytes say it is. Pure data and functions."""

from __future__ import annotations

import io
import zipfile
from enum import StrEnum


class FileKind(StrEnum):
    """A document the procedure names, uploaded with the case."""

    DOC1 = "doc1"  # Appendix 1: the notification form as received
    REQUEST_FORM = "request_form"  # Flowchart 4: the request for a review
    AGENCY_REPORT = "agency_report"  # Flowchart 2: an agency's completed rapid review report
    RAPID_REVIEW_REPORT = "rapid_review_report"  # Flowchart 2: the chair's report
    TERMS_OF_REFERENCE = "terms_of_reference"  # Flowchart 3: the LCSPR's
    DRAFT = "draft"  # Flowchart 3: a draft of the LCSPR report
    FINAL_REPORT = "final_report"  # Flowchart 3: the LCSPR's final report
    IMPROVEMENTS = "improvements"  # the improvements information, when not published in full
    PUBLISHED_REPORT = "published_report"  # the report as published


# Kept apart from the service's own letters (doc2, doc4_a, ...) by this prefix on `kind`.
UPLOAD_PREFIX = "file:"


def agency_report_prefix(organisation: str | None) -> str:
    """Where an agency's own reports are kept in the case file: the key says whose they are."""
    return f"upload/agency_report/{(organisation or '').casefold()[:100]}/"

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
PNG = "image/png"
JPEG = "image/jpeg"
ALLOWED = (PDF, DOCX, ODT, PNG, JPEG)
EXTENSIONS = {PDF: ".pdf", DOCX: ".docx", ODT: ".odt", PNG: ".png", JPEG: ".jpg"}


def content_type(content: bytes) -> str | None:
    """What the bytes are, of the types a case file holds (a form scanned or written, a
    report); None for anything else, whatever its name or header claims."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(b"PK\x03\x04"):
        return _office(content)
    return None


def _office(content: bytes) -> str | None:
    """A Word or OpenDocument text file (a zip of a known shape); None for another zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            names = set(z.namelist())
            if "mimetype" in names and z.read("mimetype").strip() == ODT.encode():
                return ODT
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, RuntimeError):
        return None
    if "[Content_Types].xml" in names and "word/document.xml" in names:
        return DOCX
    return None

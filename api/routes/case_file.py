"""The case file: documents the procedure names that people bring to a case (Doc 1 as
received, the Flowchart 4 request form, each agency's rapid review report, the Rapid Review
Report, the LCSPR's terms of reference, drafts, final report, improvements information and the
published report), kept in the case store, never in Temporal (issue 9, "The case file").

The MARS team adds any of them; an agency adds its own rapid review report only, on a case it
was asked to report on, and reads back only its own. The audit trail says who added what.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, StringConstraints
from sqlalchemy.exc import IntegrityError

from api.auth import AUTH_RESPONSES, Principal, forbidden, who_may
from api.case_file import checked_type, read_upload, virus_scan
from api.deps import AppSettings, Session, Sessions, TemporalClient, requires
from api.errors import READ_TIMEOUT, ApiError, Problem, not_found, store_errors, temporal_errors
from api.idempotency import IdempotencyKey, once
from api.routes.cases import CaseId
from api.routes.differences import _agency_involved
from domain.calendar import london_date
from domain.case import CaseState
from domain.case_file import (
    ALLOWED,
    DOCX,
    EXTENSIONS,
    UPLOAD_PREFIX,
    FileKind,
    agency_report_prefix,
    content_type,
)
from domain.permissions import Refusal, Role, can_read_case
from domain.text import ONE_LINE, clean_line
from letters import ComposeError, LetterKind, compose
from store import documents as store
from store.cases import case_snapshot
from store.models import Case, CaseDocument

router = APIRouter(prefix="/v1/cases", tags=["case file"])
UPLOAD_ROLES = frozenset({Role.MARS_TEAM, Role.AGENCY})
_UPLOAD_ROLES_TEXT = who_may(UPLOAD_ROLES, {
    Role.AGENCY: "its own agency_report only, on a case it was asked to report on"})
_READ_ROLES_TEXT = who_may({*(r for r in Role if can_read_case(r)), Role.AGENCY},
                           {Role.AGENCY: "its own agency reports only"})
Uploader = Annotated[Principal, Depends(requires(lambda r: r in UPLOAD_ROLES,
                                                 "add to the case file"))]
FileReader = Annotated[Principal, Depends(requires(
    lambda r: can_read_case(r) or r is Role.AGENCY, "read the case file"))]
TemplateWriter = Annotated[Principal, Depends(requires(lambda r: r is Role.MARS_TEAM,
                                                       "write the Rapid Review Report"))]
FileName = Annotated[str, StringConstraints(min_length=1, max_length=200),
                     AfterValidator(clean_line), ONE_LINE]
DocumentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case (or document)"},
    503: {"model": Problem, "description": "The case store (or the virus scan) cannot be "
                                           "reached"},
}


class CaseFileRead(BaseModel):
    """One document of the case file."""

    id: int
    kind: FileKind
    filename: str
    content_type: str
    created_at: datetime


# A kept file's name ends in the extension of what its bytes are (`_filename`).
_BY_EXTENSION = {extension.lstrip("."): media for media, extension in EXTENSIONS.items()}


def _read(document: CaseDocument, media: str) -> CaseFileRead:
    return CaseFileRead(id=document.id, kind=FileKind(document.kind.removeprefix(UPLOAD_PREFIX)),
                        filename=document.filename, content_type=media,
                        created_at=document.created_at)


def _agency_key(organisation: str | None) -> str:
    """Where an agency's own reports are kept: the key says whose they are."""
    return agency_report_prefix(organisation)


def _own(principal: Principal, document: CaseDocument) -> bool:
    """Whether the principal may read this document of the case file."""
    if can_read_case(principal.role):
        return True
    return document.key.startswith(_agency_key(principal.organisation))


def _filename(given: str, media: str) -> str:
    """The name kept: no folders, and the extension of what the file is."""
    name = given.replace("\\", "/").rsplit("/", 1)[-1].strip() or "document"
    extension = EXTENSIONS[media]
    return name if name.lower().endswith(extension) else f"{name[:190]}{extension}"


@router.post(
    "/{case_id}/case-file", status_code=201, response_model=CaseFileRead,
    responses={**_ERRORS, 413: {"model": Problem, "description": "Larger than "
                                "CSPR_MAX_UPLOAD_BYTES"},
               415: {"model": Problem, "description": "Not a PDF, Word (.docx), OpenDocument "
                                                      "text, PNG or JPEG file"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
    description="Add a document to the case file: the file itself is the request's body "
    "(any Content-Type that does not contradict it). Its type is read from its bytes: PDF, "
    "Word (.docx), OpenDocument text, PNG or JPEG; at most CSPR_MAX_UPLOAD_BYTES; scanned for "
    "viruses when CSPR_VIRUS_SCAN_COMMAND is set. The audit trail records who added which "
    f"kind of document.\n\n{_UPLOAD_ROLES_TEXT}",
)
async def add_to_case_file(
    case_id: CaseId, request: Request, client: TemporalClient, sessions: Sessions,
    settings: AppSettings, principal: Uploader,
    kind: Annotated[FileKind, Query(description="Which document of the procedure it is")],
    filename: Annotated[FileName, Query(description="The file's name, as it is to be "
                                                    "downloaded")],
    key: IdempotencyKey = None,
) -> CaseFileRead | JSONResponse:
    """Upload a document to the case file."""
    may_add(principal, kind)
    await _agency_involved(client, case_id, principal)
    content = await read_upload(request, settings.max_upload_bytes)
    return await add_document(sessions, settings, principal, case_id, kind, filename, content,
                              request.headers.get("content-type"), key)


def may_add(principal: Principal, kind: FileKind) -> None:
    """403 unless the principal may add this kind of document (an agency its own report)."""
    if principal.role is Role.AGENCY and kind is not FileKind.AGENCY_REPORT:
        raise forbidden(Refusal("an agency adds its own agency_report only", "kind"))


async def add_document(
    sessions: Sessions, settings: AppSettings, principal: Principal,
    case_id: str, kind: FileKind, filename: str, content: bytes, declared: str | None,
    key: str | None,
) -> CaseFileRead | JSONResponse:
    """Keep a document in the case file, checked as every upload is (the API's body, the
    workspace's form): what its bytes are, the virus scan; once for an Idempotency-Key.
    The caller has checked `may_add`, that an agency was asked, and the size."""
    media = checked_type(content, declared)
    body = {"kind": kind.value, "filename": filename,
            "sha256": hashlib.sha256(content).hexdigest()}

    async def keep() -> CaseFileRead:
        await virus_scan(content, settings)
        return await _keep(sessions, case_id, kind, _filename(filename, media), content,
                           media, principal)

    return await once(sessions, key, principal, f"POST /v1/cases/{case_id}/case-file", body,
                      201, keep)


async def _keep(sessions: Sessions, case_id: str, kind: FileKind, filename: str,
                content: bytes, media: str, principal: Principal) -> CaseFileRead:
    where = (_agency_key(principal.organisation) if principal.role is Role.AGENCY
             else f"upload/{kind.value}/")
    for _ in range(3):  # two uploads at once may take the same audit number: the later retries
        try:
            async with store_errors(), sessions.begin() as session:
                if await session.get(Case, case_id) is None:
                    raise not_found(case_id)
                document = await store.add_to_case_file(
                    session, case_id, f"{where}{uuid.uuid4().hex}", UPLOAD_PREFIX + kind.value,
                    filename, content,
                    (principal.subject, principal.role.value, principal.organisation))
                return _read(document, media)
        except IntegrityError:
            continue
    raise ApiError(409, "Case file busy", "other documents were being added; try again",
                   headers={"Retry-After": "1"})


@router.get(
    "/{case_id}/case-file", response_model=list[CaseFileRead], responses=_ERRORS,
    description="The case file, oldest first; with `kind`, one kind only (e.g. `agency_report`:"
    " the agencies' reports collated for the rapid review meeting).\n\n" + _READ_ROLES_TEXT,
)
async def list_case_file(
    case_id: CaseId, session: Session, principal: FileReader,
    kind: Annotated[FileKind | None, Query(description="Only documents of this kind")] = None,
) -> list[CaseFileRead]:
    """The documents of the case file."""
    if await session.get(Case, case_id) is None:
        raise not_found(case_id)
    kinds = {UPLOAD_PREFIX + k.value for k in ([kind] if kind else FileKind)}
    rows = await store.case_file(session, case_id, kinds)
    return [_read(d, _BY_EXTENSION.get(d.filename.rsplit(".", 1)[-1].lower(), ""))
            for d in rows if _own(principal, d)]


@router.get(
    "/{case_id}/case-file/{document_id}", response_class=Response,
    responses={**_ERRORS, 200: {"content": {kind: {} for kind in (*ALLOWED,
                                                                   "application/octet-stream")},
                                "description": "The document, as uploaded"}},
    description="Download one document of the case file.\n\n" + _READ_ROLES_TEXT,
)
async def get_case_file_document(
    case_id: CaseId, document_id: DocumentId, session: Session, principal: FileReader,
) -> Response:
    """Download a document of the case file."""
    document = await store.get_document(session, case_id, document_id)
    if document is None or not document.kind.startswith(UPLOAD_PREFIX):
        raise ApiError(404, "Document not found",
                       f"case {case_id} has no case file document {document_id}")
    if not _own(principal, document):
        raise forbidden(Refusal("an agency reads its own agency reports only"))
    return Response(document.content,
                    media_type=content_type(document.content) or "application/octet-stream",
                    headers={"Content-Disposition": _disposition(document.filename),
                             "X-Content-Type-Options": "nosniff"})


def _disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


@router.get(
    "/{case_id}/rapid-review-report-template", response_class=Response,
    responses={**_ERRORS, 200: {"content": {DOCX: {}}, "description": "The template (.docx)"},
               409: {"model": Problem, "description": "The rapid review meeting is not "
                                                      "recorded yet"}},
    description="The Rapid Review Report's template (Flowchart 2: the chair's report, D+11), "
    "filled with the case's facts: the child, the incident, the agencies' reports received, "
    "the meeting's recommendations and decision. Once complete, add it to the case file as "
    f"`rapid_review_report`.\n\n{who_may(UPLOAD_ROLES - {Role.AGENCY})}",
)
async def rapid_review_report_template(
    case_id: CaseId, client: TemporalClient, session: Session, _: TemplateWriter,
) -> Response:
    """The Rapid Review Report's template, filled in."""
    try:
        async with temporal_errors(case_id, within=READ_TIMEOUT):
            case = await client.get_workflow_handle(case_id).query("case", result_type=CaseState)
    except ApiError as e:
        if e.problem.status not in (404, 503):
            raise
        snapshot = await case_snapshot(session, case_id)
        if snapshot is None:
            raise
        case = CaseState.model_validate(snapshot)
    try:
        letter = compose(LetterKind.RAPID_REVIEW_REPORT, case, None,
                         london_date(datetime.now(UTC)))
    except ComposeError as e:
        raise ApiError(409, "Not ready", f"{case_id}: {e.reason}") from None
    return Response(letter.content, media_type=DOCX,
                    headers={"Content-Disposition": _disposition(letter.filename),
                             "X-Content-Type-Options": "nosniff"})

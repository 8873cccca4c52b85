"""The case file in the workspace: the documents people bring to a case (issue 9, "The case
file"), uploaded with GOV.UK's file upload and downloaded, through the API's own functions
(`add_document`, `get_case_file_document`), so a page and the API keep and refuse the same files
for the same people: the MARS team adds any kind, an agency its own rapid review report only, on
a case it was asked to report on, and reads back only its own."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile
from starlette.requests import Request as StarletteRequest
from starlette.types import Message

from api.case_file import read_upload
from api.deps import AppSettings, Sessions, TemporalClient
from api.errors import ApiError, store_errors
from api.routes.case_file import (
    UPLOAD_ROLES,
    add_document,
    get_case_file_document,
    list_case_file,
    may_add,
)
from api.routes.differences import _agency_involved
from domain.case_file import FileKind
from domain.permissions import Role, can_read_case
from domain.text import clean_line
from web import session
from web.forms import words
from web.pages import render
from web.routes.steps import _case_id_ok

router = APIRouter(include_in_schema=False, dependencies=[Depends(session.case_bound)])
SignedIn = Annotated[session.Person, Depends(session.signed_in)]
# A multipart form carries the file and a few short fields: this much more than the file.
_FORM_OVERHEAD = 64 * 1024
KIND_TEXT = {
    FileKind.DOC1: "Doc 1: the notification form as received",
    FileKind.REQUEST_FORM: "The request for a review (Flowchart 4)",
    FileKind.AGENCY_REPORT: "An agency's rapid review report",
    FileKind.RAPID_REVIEW_REPORT: "The Rapid Review Report",
    FileKind.TERMS_OF_REFERENCE: "The LCSPR's terms of reference",
    FileKind.DRAFT: "A draft of the LCSPR report",
    FileKind.FINAL_REPORT: "The LCSPR's final report",
    FileKind.IMPROVEMENTS: "The improvements information",
    FileKind.PUBLISHED_REPORT: "The report as published",
}
TYPES_TEXT = "a PDF, Word (.docx), OpenDocument text (.odt), PNG or JPEG"


def may_read(role: Role) -> bool:
    """Who reaches the case file's page: those who read cases, and an agency (its own)."""
    return can_read_case(role) or role is Role.AGENCY


def _megabytes(limit: int) -> str:
    """The limit as GOV.UK's messages give it: 20MB (or 1KB)."""
    if limit < 1024 * 1024:
        return f"{limit / 1024:.3g}KB"
    return f"{limit / (1024 * 1024):.3g}MB"


async def _page(request: Request, person: session.Person, sessions: Sessions, case_id: str,
                status: int = 200, errors: dict[str, str] | None = None, kind: str = "",
                added: str = "") -> Response:
    async with store_errors(), sessions() as s:
        documents = await list_case_file(case_id, s, person.principal())
    role = person.role_enum
    kinds = ([FileKind.AGENCY_REPORT] if role is Role.AGENCY
             else list(FileKind) if role in UPLOAD_ROLES else [])
    errors = errors or {}
    return render(
        request, "case_file.html", person, status, title="Case file", case_id=case_id,
        documents=documents, kinds=[(k.value, KIND_TEXT[k]) for k in kinds],
        kind_text=KIND_TEXT, kind=kind, field_errors=errors, key=str(uuid.uuid4()),
        errors=[{"text": reason, "href": f"#{field}"} for field, reason in errors.items()],
        may_add=bool(kinds), limit=_megabytes(request.app.state.settings.max_upload_bytes),
        types=TYPES_TEXT, added=added, back=can_read_case(role))


def _refused(request: Request, person: session.Person) -> Response:
    return render(request, "error.html", person, 403, title="You cannot see this page",
                  message=f"The {words(person.role).lower()} role cannot read the case file.")


@router.get("/cases/{case_id}/case-file", response_class=HTMLResponse)
async def case_file_page(request: Request, case_id: str, person: SignedIn, sessions: Sessions,
                         client: TemporalClient, added: str = "") -> Response:
    """The case file's documents this person may read, and the upload form if they may add."""
    if not _case_id_ok(case_id):
        return render(request, "not_found.html", person, 404, title="Page not found")
    if not may_read(person.role_enum):
        return _refused(request, person)
    await _agency_involved(client, case_id, person.principal())
    return await _page(request, person, sessions, case_id, added=added[:200])


async def _form(request: Request, limit: int) -> Any:
    """The posted form, read once and no further than the file's limit and a form's fields;
    413 before reading on when the browser says it is larger."""
    body = await read_upload(request, limit + _FORM_OVERHEAD)

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return await StarletteRequest(request.scope, receive).form()


@router.post("/cases/{case_id}/case-file", response_class=HTMLResponse)
async def upload(request: Request, case_id: str, person: SignedIn, sessions: Sessions,
                 client: TemporalClient, settings: AppSettings) -> Response:
    """Add a document: refused by the field (no file, empty, too large, not a type a case file
    holds), by the API's rules otherwise; nothing kept on a refusal."""
    if not _case_id_ok(case_id):
        return render(request, "not_found.html", person, 404, title="Page not found")
    limit = settings.max_upload_bytes
    too_large = f"The selected file must be smaller than {_megabytes(limit)}"
    try:
        form = await _form(request, limit)
    except ApiError as e:
        if e.problem.status != 413:
            raise
        # Nothing read, nothing kept: the page again with the reason by the field.
        return await _page(request, person, sessions, case_id, 413, {"file": too_large})
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    principal = person.principal()
    if person.role_enum not in UPLOAD_ROLES:
        return render(request, "error.html", person, 403, title="You cannot add to the case file",
                      message=f"The {words(person.role).lower()} role cannot add documents.")
    given_kind = str(form.get("kind", ""))
    errors: dict[str, str] = {}
    try:
        kind: FileKind | None = FileKind(given_kind)
    except ValueError:
        kind = None
        errors["kind"] = "Select which document it is"
    file = form.get("file")
    content = await file.read() if isinstance(file, UploadFile) else b""
    filename = (file.filename or "") if isinstance(file, UploadFile) else ""
    filename = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200]
    if not filename and not content:
        errors["file"] = "Select a file"
    elif not content:
        errors["file"] = "The selected file is empty"
    elif len(content) > limit:
        errors["file"] = too_large
    else:
        try:
            clean_line(filename)
        except ValueError as e:
            errors["file"] = f"The selected file's name {e}"
    if kind is not None and errors == {}:
        may_add(principal, kind)  # 403 for an agency's other kinds, as through the API
    await _agency_involved(client, case_id, principal)
    if errors or kind is None:
        status = 413 if errors.get("file") == too_large else 422
        return await _page(request, person, sessions, case_id, status, errors, given_kind)
    try:
        result = await add_document(sessions, settings, principal, case_id, kind,
                                    filename or "document", content, None,
                                    str(form.get("idempotency_key", "")) or None)
    except ApiError as e:
        if e.problem.status == 415:
            return await _page(request, person, sessions, case_id, 415, {
                "file": f"The selected file must be {TYPES_TEXT}"}, given_kind)
        if e.problem.status == 422:  # the virus scan's verdict
            return await _page(request, person, sessions, case_id, 422, {
                "file": "The selected file contains a virus"}, given_kind)
        raise
    if isinstance(result, JSONResponse) and result.status_code >= 400:
        raise ApiError(result.status_code, "Not kept", "the document was not kept; try again")
    return RedirectResponse(f"/cases/{case_id}/case-file?added={kind.value}", status_code=303)


@router.get("/cases/{case_id}/case-file/{document_id}")
async def download(case_id: str, document_id: int, person: SignedIn, sessions: Sessions
                   ) -> Response:
    """One document of the case file, for whoever may read it through the API."""
    if not _case_id_ok(case_id) or not 0 < document_id < 2**31:
        return Response(status_code=404)
    if not may_read(person.role_enum):
        return Response(status_code=403)
    async with store_errors(), sessions() as s:
        return await get_case_file_document(case_id, document_id, s, person.principal())

"""A case's letters and e-mail: the documents kept with it, and each message and its fate.

Read from the case store, so these answer for a closed case too. The MARS team watches the
mail list for messages that failed or may not have gone (`uncertain`), to act on them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import Session, requires
from api.errors import ApiError, Problem, not_found
from api.routes.cases import CaseId
from domain.case_file import ALLOWED, content_type
from domain.permissions import READ_CASE_ROLES, can_read_case, can_read_directory
from store import documents as store
from store import outbox
from store.models import Case

router = APIRouter(prefix="/v1/cases", tags=["letters and e-mail"])
Reader = Annotated[Principal, Depends(requires(can_read_case, "read a case"))]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case (or document)"},
    503: {"model": Problem, "description": "The case store cannot be reached"},
}
_ROLES = who_may(READ_CASE_ROLES)


class DocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    filename: str
    created_at: datetime


class MailRead(BaseModel):
    """One e-mail to one person: pending, sending, sent, failed, or uncertain (interrupted
    mid-send: it may have gone, and is never sent again)."""

    id: int
    part: str
    purpose: str
    step: str | None
    subject: str
    recipient_role: str | None
    recipient_organisation: str | None
    # Only for the roles that read the partner directory (MARS team, auditors, operations).
    to_address: str | None
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    # The SMTP server's last reply may quote an address: for the same roles as `to_address`.
    last_error: str | None


async def _case_exists(session: Session, case_id: str) -> None:
    if await session.get(Case, case_id) is None:
        raise not_found(case_id)


@router.get("/{case_id}/documents", response_model=list[DocumentRead], responses=_ERRORS,
            description=f"The letters and forms written for the case, oldest first.\n\n{_ROLES}")
async def list_documents(case_id: CaseId, session: Session, _: Reader) -> list[DocumentRead]:
    """The case's documents (Doc 2, Doc 3, Doc 4, the agency requests, Doc 12)."""
    await _case_exists(session, case_id)
    return [DocumentRead.model_validate(d) for d in await store.list_documents(session, case_id)]


@router.get("/{case_id}/documents/{document_id}", response_class=Response, responses={
    **_ERRORS, 200: {"content": {kind: {} for kind in ALLOWED},
                     "description": "The document (the service's letters are .docx; the case "
                                    "file's, as uploaded)"}},
    description=f"One document of the case, as the .docx that was sent.\n\n{_ROLES}")
async def get_document(
    case_id: CaseId, document_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: Session,
    _: Reader,
) -> Response:
    """Download one of the case's documents."""
    await _case_exists(session, case_id)
    document = await store.get_document(session, case_id, document_id)
    if document is None:
        raise ApiError(404, "Document not found", f"case {case_id} has no document {document_id}")
    ascii_name = document.filename.encode("ascii", "replace").decode().replace('"', "_")
    disposition = (f'attachment; filename="{ascii_name}"; '
                   f"filename*=UTF-8''{quote(document.filename)}")
    # The case file's uploads are here too (api/routes/case_file.py): each as what it is.
    return Response(document.content, media_type=content_type(document.content) or DOCX,
                    headers={"Content-Disposition": disposition,
                             "X-Content-Type-Options": "nosniff"})


@router.get("/{case_id}/mail", response_model=list[MailRead], responses=_ERRORS,
            description="Every e-mail of the case, oldest first, with its status, attempts "
                        "and the SMTP server's last reply: `failed` and `uncertain` ones are "
                        "for the MARS team to act on. Addresses and the server's reply (which "
                        "may quote one) are shown to the roles that read the partner "
                        f"directory.\n\n{_ROLES}")
async def list_mail(case_id: CaseId, session: Session, principal: Reader) -> list[MailRead]:
    """The case's e-mail: letters, reminders and escalations."""
    await _case_exists(session, case_id)
    addresses = can_read_directory(principal.role)
    return [
        MailRead(id=m.id, part=m.part, purpose=m.purpose, step=m.step, subject=m.subject,
                 recipient_role=p.role if p else None,
                 recipient_organisation=(o.partner or o.name) if o else None,
                 to_address=m.to_address if addresses else None, status=m.status,
                 attempts=m.attempts, created_at=m.created_at, sent_at=m.sent_at,
                 last_error=m.last_error if addresses else None)
        for m, p, o in await outbox.case_mail(session, case_id)
    ]

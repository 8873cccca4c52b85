"""Documents kept with a case (the letters and forms the service wrote, as .docx), for good.

Plain functions that take a session; the caller commits. A document is written once per key:
a retried or replayed activity finds it and uses it, so a letter sent is the letter kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from store.dialect import insert
from store.models import AuditEvent, CaseDocument

# The audit trail's part for what people add to the case file (the workflows write the others).
CASE_FILE = "case_file"


async def keep_document(
    session: AsyncSession, case_id: str, key: str, kind: str, filename: str, content: bytes
) -> CaseDocument:
    """The case's document under `key`: inserted if absent (safe when two write it at once),
    else the one already kept, unchanged."""
    await session.execute(
        insert(session)(CaseDocument).values(
            case_id=case_id, key=key, kind=kind, filename=filename, content=content,
            created_at=datetime.now(UTC),
        ).on_conflict_do_nothing(index_elements=["case_id", "key"]))
    document = await session.scalar(
        select(CaseDocument).where(CaseDocument.case_id == case_id, CaseDocument.key == key)
        .execution_options(populate_existing=True))
    assert document is not None, "inserted or already there"
    return document


async def find_document(session: AsyncSession, case_id: str, key: str) -> CaseDocument | None:
    """The case's document under `key`, without its content; None if not kept yet."""
    return await session.scalar(
        select(CaseDocument).where(CaseDocument.case_id == case_id, CaseDocument.key == key)
        .options(defer(CaseDocument.content, raiseload=True)))


async def list_documents(session: AsyncSession, case_id: str) -> Sequence[CaseDocument]:
    """The case's documents, oldest first, without their content."""
    rows = await session.scalars(
        select(CaseDocument).where(CaseDocument.case_id == case_id)
        .options(defer(CaseDocument.content, raiseload=True))
        .order_by(CaseDocument.created_at, CaseDocument.id))
    return rows.all()


async def get_document(
    session: AsyncSession, case_id: str, document_id: int
) -> CaseDocument | None:
    """One of the case's documents with its content; None if the case has no such document."""
    return await session.scalar(select(CaseDocument).where(
        CaseDocument.case_id == case_id, CaseDocument.id == document_id))


async def documents(session: AsyncSession, ids: Sequence[int]) -> list[CaseDocument]:
    """The documents with these ids, in the order given."""
    if not ids:
        return []
    found = {d.id: d for d in await session.scalars(
        select(CaseDocument).where(CaseDocument.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


async def add_to_case_file(
    session: AsyncSession, case_id: str, key: str, kind: str, filename: str, content: bytes,
    actor: tuple[str, str, str | None],
) -> CaseDocument:
    """A document someone uploaded, and the audit row that says who added what (its kind and
    number, not its name: a file's name may hold a child's)."""
    document = await keep_document(session, case_id, key, kind, filename, content)
    subject, role, organisation = actor
    last = await session.scalar(select(func.max(AuditEvent.sequence)).where(
        AuditEvent.case_id == case_id, AuditEvent.part == CASE_FILE))
    session.add(AuditEvent(
        case_id=case_id, part=CASE_FILE, sequence=(last or 0) + 1, at=document.created_at,
        kind="document_added", step=None,
        detail=f"{kind.removeprefix('file:')} added to the case file as document {document.id}",
        channel="api", actor_subject=subject, actor_role=role, actor_organisation=organisation))
    await session.flush()
    return document


async def case_file(session: AsyncSession, case_id: str, kinds: set[str]
                    ) -> Sequence[CaseDocument]:
    """The case's documents of these kinds, oldest first, without their content."""
    rows = await session.scalars(
        select(CaseDocument).where(CaseDocument.case_id == case_id, CaseDocument.kind.in_(kinds))
        .options(defer(CaseDocument.content, raiseload=True))
        .order_by(CaseDocument.created_at, CaseDocument.id))
    return rows.all()

"""Subject access: everything the case store holds about one child, as one zip archive."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import (
    AuditEvent,
    Case,
    CaseDocument,
    CasePart,
    CaseStep,
    Child,
    OutboxMessage,
)
from store.retention import audit
from store.tenancy import DEFAULT, in_partnership

ACCESS_PART = "access"  # the audit trail's part for the exports made


def _row(row: Any, skip: Sequence[str] = ()) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in inspect(row).mapper.column_attrs
            if c.key not in skip}


async def cases_of(session: AsyncSession, child_reference: str,
                   partnership: str = DEFAULT) -> list[str]:
    """The cases of `partnership` naming this child, oldest first."""
    found = await session.scalars(
        select(Child.case_id).where(Child.reference == child_reference,
                                    in_partnership(Child.case_id, partnership))
        .distinct().order_by(Child.case_id))
    return list(found)


async def export(session: AsyncSession, child_reference: str, actor_role: str,
                 partnership: str = DEFAULT) -> bytes:
    """The archive: per case of `partnership` its record (with the LCSPR and action plan),
    steps, audit trail, e-mails and documents; each case's trail notes the export. Empty of
    cases if none."""
    case_ids = await cases_of(session, child_reference, partnership)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        def put(name: str, value: Any) -> None:
            archive.writestr(name, json.dumps(value, indent=2, default=str, sort_keys=True))

        put("manifest.json", {"child_reference": child_reference, "cases": case_ids,
                              "exported_at": datetime.now(UTC).isoformat()})
        for case_id in case_ids:
            case = await session.get(Case, case_id)
            put(f"{case_id}/case.json", {
                "case": _row(case) if case else None,
                "children": [_row(c) for c in await session.scalars(
                    select(Child).where(Child.case_id == case_id).order_by(Child.position))],
                "steps": [_row(s) for s in await session.scalars(
                    select(CaseStep).where(CaseStep.case_id == case_id)
                    .order_by(CaseStep.step))],
                "parts": [_row(p) for p in await session.scalars(
                    select(CasePart).where(CasePart.case_id == case_id)
                    .order_by(CasePart.part))],
            })
            put(f"{case_id}/audit_trail.json", [_row(e, ("id",)) for e in await session.scalars(
                select(AuditEvent).where(AuditEvent.case_id == case_id)
                .order_by(AuditEvent.at, AuditEvent.part, AuditEvent.sequence))])
            put(f"{case_id}/emails.json", [_row(m, ("id",)) for m in await session.scalars(
                select(OutboxMessage).where(OutboxMessage.case_id == case_id)
                .order_by(OutboxMessage.id))])
            for document in await session.scalars(
                    select(CaseDocument).where(CaseDocument.case_id == case_id)
                    .order_by(CaseDocument.id)):
                archive.writestr(f"{case_id}/documents/{document.id}-{document.filename}",
                                 document.content)
            await audit(session, case_id, "subject_access",
                        "everything held about a child of the case exported", actor_role,
                        part=ACCESS_PART)
    return buffer.getvalue()

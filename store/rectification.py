"""Rectification: a closed case's record of a child corrected on request, the reason audited.

A running case's record is its workflow's (Temporal is the truth while it runs, and the next
projection would undo a change made here): only a closed case is corrected in the store.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Case, Child
from store.retention import audit

_UNSET: Any = object()


class NotCorrectable(Exception):
    """The case or the child cannot be corrected as asked; the reason says why."""


async def rectify(session: AsyncSession, case_id: str, position: int, reason: str,
                  actor_role: str, reference: str | None = None,
                  date_of_birth: date | None | Any = _UNSET) -> list[str]:
    """Correct one child of a closed case (its row and the case's snapshot); returns the
    fields changed, which the trail names (never their values)."""
    case = await session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise LookupError(case_id)
    if case.stage != "closed":
        raise NotCorrectable("the case is still running: its record is corrected through the "
                             "case (a record of the step), not here")
    child = await session.scalar(select(Child).where(Child.case_id == case_id,
                                                     Child.position == position))
    if child is None:
        raise NotCorrectable(f"child_position: the case names no child at {position}")
    if child.reference == "erased":
        raise NotCorrectable("the case's record has been anonymised")
    changes: dict[str, Any] = {}
    if reference is not None and reference != child.reference:
        changes["reference"] = reference
    if date_of_birth is not _UNSET and date_of_birth != child.date_of_birth:
        changes["date_of_birth"] = date_of_birth
    if not changes:
        return []
    for name, value in changes.items():
        setattr(child, name, value)
    made = case.snapshot.get("notification") or case.snapshot.get("request")
    if made is not None and position < len(made.get("children", [])):
        snapshot = dict(case.snapshot)
        children = [dict(c) for c in made["children"]]
        children[position].update(
            {k: (v.isoformat() if isinstance(v, date) else v) for k, v in changes.items()})
        key = "notification" if case.snapshot.get("notification") else "request"
        snapshot[key] = {**made, "children": children}
        case.snapshot = snapshot
    fields = sorted(changes)
    await audit(session, case_id, "rectified",
                f"child {position}: {', '.join(fields)} corrected; reason: {reason}", actor_role)
    return fields

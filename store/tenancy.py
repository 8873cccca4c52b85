"""Tenants: one service for several safeguarding partnerships (README, Operations, Tenants).

A partnership is a tenant of the one service: one Temporal namespace, one case store, its rows
marked with their partnership. A case's partnership is in `case_partnerships` (written when the
case is numbered, before its workflow starts; a case without a row is the default partnership's),
an organisation's in the directory's `partnership` column, a caller's in its token's
`partnership` claim (none: the default). Every store function that lists or finds cases takes
the caller's partnership and returns only that partnership's cases; the API answers 404 for a
case of another partnership, as for one that does not exist.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Case, CasePartnership

DEFAULT = "default"
# A partnership's name: a short lower-case slug (it goes into tokens, a search attribute, logs).
NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def partnership_refusal(name: object) -> str | None:
    """Why `name` is not a partnership's name, or None if it is one."""
    if not isinstance(name, str) or not NAME.match(name):
        return ("a partnership is a lower-case name of letters, digits and hyphens, "
                "at most 64 characters")
    return None


async def assign(session: AsyncSession, case_id: str, partnership: str) -> None:
    """Mark a new case as `partnership`'s (in the caller's transaction). Kept if already there:
    a case's partnership never changes."""
    if await session.get(CasePartnership, case_id) is None:
        session.add(CasePartnership(case_id=case_id, partnership=partnership))
        await session.flush()


async def claim(session: AsyncSession, case_id: str, partnership: str) -> bool:
    """Mark a case about to be opened under an id given by the caller (a case opened before
    this service) as `partnership`'s; False if that id is already another partnership's (a
    stored case without a row is the default partnership's)."""
    row = await session.get(CasePartnership, case_id)
    if row is not None:
        return row.partnership == partnership
    if await session.get(Case, case_id) is not None:
        return partnership == DEFAULT
    await assign(session, case_id, partnership)
    return True


async def partnership_of(session: AsyncSession, case_id: str) -> str:
    """The partnership a case belongs to (the default one's if it was never marked)."""
    found = await session.scalar(
        select(CasePartnership.partnership).where(CasePartnership.case_id == case_id))
    return found or DEFAULT


def in_partnership(case_id: Any, partnership: str) -> Any:
    """A condition on a query: the case `case_id` (a column) belongs to `partnership`."""
    if partnership == DEFAULT:
        return ~exists().where(CasePartnership.case_id == case_id,
                               CasePartnership.partnership != DEFAULT)
    return exists().where(CasePartnership.case_id == case_id,
                          CasePartnership.partnership == partnership)

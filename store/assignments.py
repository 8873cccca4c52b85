"""Reviewers assigned to a case's LCSPR (issue 9, item 8). Plain functions that take a
session; the caller commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.dialect import insert
from store.models import ReviewerAssignment


async def assign(session: AsyncSession, case_id: str, subject: str, by: str
                 ) -> ReviewerAssignment:
    """The reviewer assigned to the case (kept as first made if it already was)."""
    await session.execute(insert(session)(ReviewerAssignment).values(
        case_id=case_id, subject=subject, assigned_at=datetime.now(UTC), assigned_by=by,
    ).on_conflict_do_nothing(index_elements=["case_id", "subject"]))
    found = await session.get(ReviewerAssignment, (case_id, subject), populate_existing=True)
    assert found is not None, "inserted or already there"
    return found


async def unassign(session: AsyncSession, case_id: str, subject: str) -> bool:
    """Whether there was such an assignment to end."""
    result = await session.execute(delete(ReviewerAssignment).where(
        ReviewerAssignment.case_id == case_id, ReviewerAssignment.subject == subject))
    return bool(getattr(result, "rowcount", 0))


async def assigned(session: AsyncSession, case_id: str, subject: str) -> bool:
    return await session.get(ReviewerAssignment, (case_id, subject)) is not None


async def reviewers(session: AsyncSession, case_id: str) -> Sequence[ReviewerAssignment]:
    rows = await session.scalars(select(ReviewerAssignment).where(
        ReviewerAssignment.case_id == case_id).order_by(ReviewerAssignment.assigned_at))
    return rows.all()


async def cases_of(session: AsyncSession, subject: str) -> list[str]:
    """The cases a reviewer is assigned to."""
    rows = await session.scalars(select(ReviewerAssignment.case_id).where(
        ReviewerAssignment.subject == subject))
    return list(rows)

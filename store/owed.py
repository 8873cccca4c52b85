"""Projections owed: which stored copies are known to be behind their workflow.

A workflow writes its part of the case (the case itself, its LCSPR, its action plan) to the
store before it answers a record; when the store cannot take it (down, or refusing the value),
the workflow goes on and tries again later (`workflows.projection`). The worker notes each
projection it could not write here as soon as the store answers again, and a projection written
later clears it. A read of an open case takes the stored copy unless it is noted here as behind
(then it asks the workflow: api.workflow_calls).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.dialect import insert
from store.models import ProjectionOwed

CASE = "case"  # the part name of the case's own workflow


async def note(session: AsyncSession, owed: dict[tuple[str, str], int], now: datetime) -> None:
    """Note each (case id, part) -> version as owed; an older note is raised to the newer."""
    for (case_id, part), version in owed.items():
        upsert = insert(session)(ProjectionOwed).values(
            case_id=case_id, part=part, version=version, since=now)
        await session.execute(upsert.on_conflict_do_update(
            index_elements=["case_id", "part"], set_={"version": version},
            where=ProjectionOwed.version < version))


async def clear(session: AsyncSession, case_id: str, part: str, version: int) -> None:
    """A projection of `version` is written: what it covers is no longer owed."""
    await session.execute(delete(ProjectionOwed).where(
        ProjectionOwed.case_id == case_id, ProjectionOwed.part == part,
        ProjectionOwed.version <= version))


async def behind(session: AsyncSession, case_id: str, part: str, stored: int | None) -> bool:
    """Whether the stored copy (of version `stored`; None: no copy) is known to be behind."""
    owed: int | None = await session.scalar(select(ProjectionOwed.version).where(
        ProjectionOwed.case_id == case_id, ProjectionOwed.part == part))
    return owed is not None and (stored is None or owed > stored)

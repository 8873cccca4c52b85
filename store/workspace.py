"""The workspace's reads of many cases at once (My work, the calendar feeds, the Board's
report), on indexed columns: the cases still open (`stage`), and those received in a period
(`received_at`). As the store grows with closed cases over the years, these read the same
open cases and the same period's: the pages stay as fast with 5,000 cases as with 1,000
(bench/workspace.py). Each reads one partnership's cases (store.tenancy): the default one's
unless told otherwise, as the workspace's people are."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.cases import OPEN_STAGES as OPEN_STAGES
from store.models import Case, CasePart
from store.tenancy import DEFAULT, in_partnership


async def open_case_snapshots(session: AsyncSession, partnership: str = DEFAULT
                              ) -> Sequence[tuple[str, dict[str, Any]]]:
    """(case id, snapshot) of every case of `partnership` not closed."""
    rows = await session.execute(select(Case.case_id, Case.snapshot)
                                 .where(Case.stage.in_(OPEN_STAGES),
                                        in_partnership(Case.case_id, partnership)))
    return [(case_id, snapshot) for case_id, snapshot in rows.all()]


async def open_part_snapshots(session: AsyncSession, part: str, partnership: str = DEFAULT
                              ) -> Sequence[tuple[str, dict[str, Any]]]:
    """(case id, snapshot) of this part (an LCSPR, an action plan) of every case of
    `partnership` not closed."""
    rows = await session.execute(
        select(CasePart.case_id, CasePart.snapshot).join(Case, Case.case_id == CasePart.case_id)
        .where(CasePart.part == part, Case.stage.in_(OPEN_STAGES),
               in_partnership(Case.case_id, partnership)))
    return [(case_id, snapshot) for case_id, snapshot in rows.all()]


Snapshots = Sequence[tuple[str, dict[str, Any]]]
PartSnapshots = Sequence[tuple[str, str, dict[str, Any]]]


async def report_snapshots(session: AsyncSession, start: datetime, end: datetime,
                           partnership: str = DEFAULT) -> tuple[Snapshots, PartSnapshots]:
    """For the Board's report: (case id, snapshot) of `partnership`'s cases received from
    `start` (an instant) to before `end`, and of those still open whenever received; and
    (part, case id, snapshot) of their parts."""
    among = or_((Case.received_at >= start) & (Case.received_at < end),
                Case.stage.in_(OPEN_STAGES)) & in_partnership(Case.case_id, partnership)
    cases = await session.execute(select(Case.case_id, Case.snapshot).where(among))
    parts = await session.execute(
        select(CasePart.part, CasePart.case_id, CasePart.snapshot)
        .join(Case, Case.case_id == CasePart.case_id).where(among))
    return ([(c, s) for c, s in cases.all()], [(p, c, s) for p, c, s in parts.all()])

"""Reading the case store, and allocating case numbers. Plain functions that take a session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, case, func, literal, select, true, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.case import Stage
from store.models import AuditEvent, Case, CaseNumber, CasePart, CaseStep, PartDeadline
from store.tenancy import DEFAULT, in_partnership

OPEN_STATUSES = ("pending", "overdue")
# Every stage but "closed", as a list an index can look up (`stage != 'closed'` cannot).
OPEN_STAGES = tuple(s.value for s in Stage if s is not Stage.CLOSED)


async def allocate_case_number(session: AsyncSession, year: int) -> int:
    """The next number of the year. The row stays locked until the caller's transaction ends,
    so numbers are given out one at a time: keep that transaction short (no Temporal call in
    it, api/opening.py)."""
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
              else sqlite.insert)
    upsert = insert(CaseNumber).values(year=year, last=1).on_conflict_do_update(
        index_elements=[CaseNumber.year], set_={"last": CaseNumber.last + 1}
    ).returning(CaseNumber.last)
    number: int = (await session.execute(upsert)).scalar_one()
    return number


async def case_snapshot(session: AsyncSession, case_id: str) -> dict[str, Any] | None:
    row = await session.get(Case, case_id)
    return row.snapshot if row else None


async def case_parts(session: AsyncSession, case_ids: Sequence[str]) -> dict[str, list[CasePart]]:
    """The child workflows (LCSPR, action plan) of each case, as they last projected."""
    found: dict[str, list[CasePart]] = {case_id: [] for case_id in case_ids}
    if case_ids:
        rows = await session.scalars(select(CasePart).where(CasePart.case_id.in_(case_ids))
                                     .order_by(CasePart.case_id, CasePart.part))
        for part in rows:
            found[part.case_id].append(part)
    return found


def _overdue_as_a_whole() -> Any:
    """The case, or one of its parts while it is open, has an overdue step. One IN over the
    overdue cases and parts (their indexes), which the planner joins to the cases by key: as
    `overdue OR EXISTS (...)` it checked every case (tests/test_case_list_plans.py)."""
    own, owner = aliased(Case), aliased(Case)
    cases = select(own.case_id).where(own.overdue == true())
    parts = (select(CasePart.case_id).join(owner, owner.case_id == CasePart.case_id)
             .where(CasePart.overdue == true(), owner.stage.in_(OPEN_STAGES)))
    either = union_all(cases, parts).subquery()
    return Case.case_id.in_(select(either.c.case_id))


def _due(step_due: Any, part_due: Any) -> Any:
    """The case has an open step so due, or, while open, an LCSPR or action-plan deadline so
    due (`part_deadlines`). One IN over both tables' date indexes, which the planner joins to
    the cases by key: as an OR of two EXISTS it checked every case (tests/test_case_list_plans)."""
    steps = select(CaseStep.case_id).where(CaseStep.status.in_(OPEN_STATUSES), step_due)
    owner = aliased(Case)
    parts = (select(PartDeadline.case_id).join(owner, owner.case_id == PartDeadline.case_id)
             .where(owner.stage.in_(OPEN_STAGES), part_due))
    both = union_all(steps, parts).subquery()
    return Case.case_id.in_(select(both.c.case_id))


def case_list(
    *, stage: str | None = None, overdue: bool | None = None, kind: str | None = None,
    due_before: date | None = None, due_after: date | None = None,
    only: Sequence[str] | None = None, received: tuple[datetime, datetime] | None = None,
    partnership: str = DEFAULT,
) -> Select[Case]:
    """The cases `list_cases` lists, unsorted and uncounted (see there). Each filter reads an
    index (migration 0016; tests/test_case_list_plans.py)."""
    query = select(Case).where(in_partnership(Case.case_id, partnership))
    if received is not None:
        query = query.where(Case.received_at >= received[0], Case.received_at < received[1])
    if only is not None:
        query = query.where(Case.case_id.in_(only))
    if stage is not None:
        query = query.where(Case.stage == stage)
    if overdue is not None:
        whole = _overdue_as_a_whole()
        query = query.where(whole if overdue else ~whole)
    if kind is not None:
        query = query.where(Case.kind == kind)
    if due_before is not None:
        query = query.where(_due(CaseStep.due_date <= due_before,
                                 PartDeadline.due_date <= due_before))
    if due_after is not None:
        query = query.where(_due(CaseStep.due_date >= due_after,
                                 PartDeadline.due_date >= due_after))
    return query


def counted(query: Select[Case]) -> Select[int]:
    """How many cases `query` finds: counted off an index (`ix_cases_newest_first` holds every
    filtered column), the rows and their snapshots never read."""
    return select(func.count()).select_from(query.with_only_columns(Case.case_id).subquery())


def newest_first(query: Select[Case]) -> Select[Case]:
    """Newest first, then by id: the order of the cases' (received_at desc, case_id) indexes."""
    return query.order_by(Case.received_at.desc(), Case.case_id)


async def list_cases(
    session: AsyncSession, *, stage: str | None = None, overdue: bool | None = None,
    kind: str | None = None, due_before: date | None = None, due_after: date | None = None,
    limit: int = 50, offset: int = 0, only: Sequence[str] | None = None,
    received: tuple[datetime, datetime] | None = None, partnership: str = DEFAULT,
) -> tuple[Sequence[Case], int]:
    """Cases of `partnership` matching every filter given, newest first, and how many match in
    all. `overdue` is the case's with its parts' (its LCSPR's, its action plan's); `only`:
    among these. A case passes `due_before` (`due_after`) with an open step so due, or, while
    open, an open deadline of its LCSPR or action plan so due (`part_deadlines`). `received`:
    from the first instant to before the second."""
    query = case_list(stage=stage, overdue=overdue, kind=kind, due_before=due_before,
                      due_after=due_after, only=only, received=received,
                      partnership=partnership)
    total = await session.scalar(counted(query)) or 0
    rows = await session.scalars(newest_first(query).limit(limit).offset(offset))
    return rows.all(), total


async def case_events(session: AsyncSession, case_id: str) -> Sequence[AuditEvent]:
    rows = await session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case_id)
        .order_by(AuditEvent.at, AuditEvent.part, AuditEvent.sequence))
    return rows.all()


async def deadlines(
    session: AsyncSession, start: date, end: date, only: Sequence[str] | None = None,
    partnership: str = DEFAULT, limit: int | None = None, offset: int = 0,
) -> Sequence[Any]:
    """Open deadlines of `partnership`'s open cases falling due from `start` to `end`, soonest
    first (then by case, part, step): the cases' own steps and their parts' (LCSPR, action
    plan; `part_deadlines`). Each row has case_id, stage, part ("case" for the case's own),
    step, due_date, statutory and status (a part's: "overdue" or "pending"). `only`: of these
    cases; `limit` and `offset`: one page. Both halves are read by the due-date index: the
    time does not grow with the number of cases, only with what falls due."""
    own = (select(CaseStep.case_id, Case.stage, literal("case").label("part"), CaseStep.step,
                  CaseStep.due_date, CaseStep.statutory, CaseStep.status)
           .join(Case, Case.case_id == CaseStep.case_id)
           .where(CaseStep.status.in_(OPEN_STATUSES), CaseStep.due_date >= start,
                  CaseStep.due_date <= end, Case.stage != "closed",
                  in_partnership(Case.case_id, partnership),
                  *([CaseStep.case_id.in_(only)] if only is not None else [])))
    parts = (select(PartDeadline.case_id, Case.stage, PartDeadline.part, PartDeadline.step,
                    PartDeadline.due_date, PartDeadline.statutory,
                    case((PartDeadline.overdue.is_(True), literal("overdue")),
                         else_=literal("pending")).label("status"))
             .join(Case, Case.case_id == PartDeadline.case_id)
             .where(PartDeadline.due_date >= start, PartDeadline.due_date <= end,
                    Case.stage != "closed", in_partnership(Case.case_id, partnership),
                    *([PartDeadline.case_id.in_(only)] if only is not None else [])))
    both = union_all(own, parts).subquery()
    query = select(both).order_by(both.c.due_date, both.c.case_id, both.c.part, both.c.step)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return (await session.execute(query)).all()

"""Lists from the case store: cases by stage and deadline, a case's audit trail, the week's
deadlines. The store is the permanent record, so these answer for closed cases too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import Session, requires
from api.errors import Problem, invalid, not_found
from api.part_deadlines import part_items
from api.routes.cases import CaseId
from api.schemas import AuditEventRead, CasePage, CaseSummary, DeadlineItem
from domain.case import Stage, StepStatus
from domain.permissions import READ_CASE_ROLES, Role, can_read_case
from domain.procedure import Step
from store import assignments
from store import cases as store
from store.models import Case, CasePart

router = APIRouter(prefix="/v1", tags=["case store"])
MAX_OFFSET = 1_000_000  # far beyond any year's cases; bounded so the store never overflows
Reader = Annotated[Principal, Depends(requires(can_read_case, "read cases"))]
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    503: {"model": Problem, "description": "The case store cannot be reached"},
}
_ROLES = who_may(READ_CASE_ROLES)


async def _reviewers_cases(session: Session, principal: Principal) -> list[str] | None:
    """A reviewer lists only the cases it is assigned to (issue 9, item 8); others, all."""
    if principal.role is not Role.REVIEWER:
        return None
    return await assignments.cases_of(session, principal.subject)


@router.get("/cases", response_model=CasePage, responses=_ERRORS,
            description="Cases, newest first, filtered by every parameter given. A case's "
                        "`overdue` and `next_deadline` include its LCSPR's and action plan's; "
                        "`due_before` and `due_after` look at every open deadline of the case: "
                        "its own steps, its LCSPR's (the statutory publication within six "
                        "months included) and its action plan's, as `/v1/deadlines` lists them."
                        f"\n\n{_ROLES}")
async def list_cases(
    session: Session, principal: Reader,
    stage: Stage | None = None,
    overdue: Annotated[bool | None, Query(description="Only cases with (or without) an "
                                                      "overdue step, their LCSPR's and action "
                                                      "plan's included")] = None,
    kind: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]+$",
                                            examples=["serious_incident", "request"])] = None,
    due_before: Annotated[date | None, Query(description="With an open deadline (a step of "
                                                         "the case, its LCSPR or its action "
                                                         "plan) on or before this date")] = None,
    due_after: Annotated[date | None, Query(description="With an open deadline (a step of "
                                                        "the case, its LCSPR or its action "
                                                        "plan) on or after this date")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CasePage:
    """Cases from the case store, with filters and pagination."""
    only = await _reviewers_cases(session, principal)
    # What falls due in an LCSPR or an action plan is in its snapshot, not in a column: the
    # cases whose parts have a deadline on the right side of each date (issue 9).
    parts_due = ([] if due_before is None and due_after is None
                 else await store.part_deadlines(session, only))
    rows, total = await store.list_cases(
        session, stage=stage.value if stage else None, overdue=overdue, kind=kind,
        due_before=due_before, due_after=due_after, limit=limit, offset=offset, only=only,
        parts_due_before=_due(parts_due, lambda due: due_before is not None
                              and due <= due_before),
        parts_due_after=_due(parts_due, lambda due: due_after is not None
                             and due >= due_after),
        partnership=principal.partnership)
    parts = await store.case_parts(session, [r.case_id for r in rows])
    return CasePage(items=[CaseSummary.of(r, parts[r.case_id]) for r in rows], total=total,
                    limit=limit, offset=offset)


def _due(parts: Sequence[tuple[CasePart, str]], when: Callable[[date], bool]) -> set[str]:
    """The cases one of whose parts has an open deadline `when` says."""
    return {part.case_id for part, _ in parts
            for _, due, _, _ in part_items(part.part, part.snapshot) if when(due)}


@router.get("/cases/{case_id}/events", response_model=list[AuditEventRead],
            responses={**_ERRORS, 404: {"model": Problem, "description": "No such case"}},
            description=f"The case's audit trail, oldest first.\n\n{_ROLES}")
async def case_events(case_id: CaseId, session: Session, _: Reader) -> list[AuditEventRead]:
    """Who did what to the case, when, and through which channel (API, signal or timer)."""
    if await session.get(Case, case_id) is None:
        raise not_found(case_id)
    return [AuditEventRead.model_validate(e) for e in await store.case_events(session, case_id)]


@router.get("/deadlines", response_model=list[DeadlineItem], responses=_ERRORS,
            description=f"Open steps falling due between two dates, soonest first: the MARS "
                        "team's week. The case's own steps, its LCSPR's (the statutory "
                        "publication within six months of clock L included) and its action "
                        f"plan's (actions, plan reviews).\n\n{_ROLES}")
async def deadlines(
    session: Session, principal: Reader,
    from_: Annotated[date, Query(alias="from", description="First due date (YYYY-MM-DD)")],
    to: Annotated[date, Query(description="Last due date (YYYY-MM-DD)")],
) -> list[DeadlineItem]:
    """The steps falling due from `from` to `to`."""
    if to < from_:
        raise invalid("to", "is before from")
    if (to - from_).days > 366:
        raise invalid("to", "is more than a year after from")
    only = await _reviewers_cases(session, principal)
    items = [
        DeadlineItem(case_id=s.case_id, stage=Stage(stage), step=Step(s.step).value,
                     due_date=s.due_date, statutory=s.statutory, status=StepStatus(s.status))
        for s, stage in await store.deadlines(session, from_, to, only, principal.partnership)
        if s.due_date is not None
    ]
    # The LCSPR's and the action plan's too, the statutory publication within six months
    # included (issue 9): one list of everything due, whatever the part.
    for part, stage in await store.part_deadlines(session, only, principal.partnership):
        items += [
            DeadlineItem(case_id=part.case_id, stage=Stage(stage), part=part.part, step=step,
                         due_date=due, statutory=statutory,
                         status=StepStatus.OVERDUE if overdue else StepStatus.PENDING)
            for step, due, statutory, overdue in part_items(part.part, part.snapshot)
            if from_ <= due <= to
        ]
    return sorted(items, key=lambda i: (i.due_date, i.case_id, i.part, i.step))

"""Lists from the case store: cases by stage and deadline, a case's audit trail, the week's
deadlines. The store is the permanent record, so these answer for closed cases too."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import Session, requires
from api.errors import Problem, invalid, not_found
from api.routes.cases import CaseId
from api.schemas import AuditEventRead, CasePage, CaseSummary, DeadlineItem
from domain.case import Stage, StepStatus
from domain.permissions import READ_CASE_ROLES, Role, can_read_case
from store import assignments
from store import cases as store
from store.models import Case

router = APIRouter(prefix="/v1", tags=["case store"])
MAX_OFFSET = 1_000_000  # far beyond any year's cases; bounded so the store never overflows
DEADLINES_PAGE, MAX_DEADLINES = 500, 2000
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
    # The due filters see the LCSPR's and action plan's deadlines too (issue 9), from the
    # store's table of them (issue 13: no snapshot read).
    rows, total = await store.list_cases(
        session, stage=stage.value if stage else None, overdue=overdue, kind=kind,
        due_before=due_before, due_after=due_after, limit=limit, offset=offset, only=only,
        partnership=principal.partnership)
    parts = await store.case_parts(session, [r.case_id for r in rows])
    return CasePage(items=[CaseSummary.of(r, parts[r.case_id]) for r in rows], total=total,
                    limit=limit, offset=offset)


@router.get("/cases/{case_id}/events", response_model=list[AuditEventRead],
            responses={**_ERRORS, 404: {"model": Problem, "description": "No such case"}},
            description=f"The case's audit trail, oldest first.\n\n{_ROLES}")
async def case_events(case_id: CaseId, session: Session, _: Reader) -> list[AuditEventRead]:
    """Who did what to the case, when, and through which channel (API, signal or timer)."""
    if await session.get(Case, case_id) is None:
        raise not_found(case_id)
    return [AuditEventRead.model_validate(e) for e in await store.case_events(session, case_id)]


@router.get("/deadlines", response_model=list[DeadlineItem], responses=_ERRORS,
            description=f"Open steps falling due between two dates, soonest first (then by "
                        "case, part and step): the MARS team's week. The case's own steps, its "
                        "LCSPR's (the statutory publication within six months of clock L "
                        "included) and its action plan's (actions, plan reviews). One page of "
                        "at most `limit` deadlines from `offset` on: a page shorter than "
                        "`limit` is the last. The query reads the deadlines by date: its time "
                        f"does not grow with the number of cases.\n\n{_ROLES}")
async def deadlines(
    session: Session, principal: Reader,
    from_: Annotated[date, Query(alias="from", description="First due date (YYYY-MM-DD)")],
    to: Annotated[date, Query(description="Last due date (YYYY-MM-DD)")],
    limit: Annotated[int, Query(ge=1, le=MAX_DEADLINES,
                                description="At most this many deadlines")] = DEADLINES_PAGE,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET,
                                 description="Skip this many (the next page: offset + limit)")
                      ] = 0,
) -> list[DeadlineItem]:
    """The steps falling due from `from` to `to`, one page."""
    if to < from_:
        raise invalid("to", "is before from")
    if (to - from_).days > 366:
        raise invalid("to", "is more than a year after from")
    only = await _reviewers_cases(session, principal)
    rows = await store.deadlines(session, from_, to, only, principal.partnership,
                                 limit=limit, offset=offset)
    return [DeadlineItem(case_id=r.case_id, stage=Stage(r.stage), part=r.part, step=r.step,
                         due_date=r.due_date, statutory=r.statutory, status=StepStatus(r.status))
            for r in rows]

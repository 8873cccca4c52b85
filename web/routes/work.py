"""My work: everything due for me or my organisation, overdue first; the MARS team sees
everyone's, filtered by partner, step and part."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Sessions
from api.errors import store_errors
from domain.action_plan import ActionPlanState
from domain.case import CaseState
from domain.local_review import LocalReviewState
from domain.local_review_records import LocalReviewStep
from domain.permissions import Role, can_read_case
from domain.procedure import Partner, Step
from store import assignments
from store import workspace as workspace_store
from store.tenancy import DEFAULT
from web import session
from web.pages import render
from web.work import WorkItem, everything
from workflows.action_plan import PART as PLAN_PART
from workflows.local_review import PART as LOCAL_REVIEW_PART

router = APIRouter(include_in_schema=False)
PARTS = {"case": "The case's steps", "local_review": "LCSPR", "action_plan": "Action plan",
         "difference": "Differences of opinion"}
logger = logging.getLogger("cspr.web")
M = TypeVar("M", bound=BaseModel)
SignedIn = Annotated[session.Person, Depends(session.signed_in)]


def readable(model: type[M], rows: Iterable[tuple[str, Any]]) -> list[M]:
    """The stored snapshots (case id, snapshot) as their model; one that does not read (a
    part projected by an older or a stand-in workflow) is left out and logged by case id, so
    that it cannot take the page down for everyone."""
    found = []
    for case_id, snapshot in rows:
        try:
            found.append(model.model_validate(snapshot))
        except ValidationError:
            logger.warning("%s of %s not readable: left out of the workspace's lists",
                           model.__name__, case_id)
    return found


async def open_cases(s: AsyncSession, partnership: str = DEFAULT) -> list[CaseState]:
    """Every case of the partnership not closed, as the case store last holds it."""
    return readable(CaseState, await workspace_store.open_case_snapshots(s, partnership))


async def open_reviews(s: AsyncSession, partnership: str = DEFAULT) -> list[LocalReviewState]:
    """The LCSPRs of the partnership's cases not closed, as the case store last holds them."""
    return readable(LocalReviewState, await workspace_store.open_part_snapshots(
        s, LOCAL_REVIEW_PART, partnership))


async def open_plans(s: AsyncSession, partnership: str = DEFAULT) -> list[ActionPlanState]:
    """The action plans of the partnership's cases not closed, as the store last holds them."""
    return readable(ActionPlanState,
                    await workspace_store.open_part_snapshots(s, PLAN_PART, partnership))


async def work_of(s: AsyncSession, role: Role, organisation: str | None, subject: str,
                  include_later: bool = False, partnership: str = DEFAULT) -> list[WorkItem]:
    """Everything this role and organisation record, across their partnership's cases, their
    LCSPRs and their action plans; a reviewer's only on the cases it is assigned to (issue 9,
    item 8)."""
    found = everything(await open_cases(s, partnership), await open_reviews(s, partnership),
                       await open_plans(s, partnership), role, organisation, include_later)
    if role is Role.REVIEWER:
        mine = set(await assignments.cases_of(s, subject))
        found = [item for item in found if item.case_id in mine]
    return found


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/work", status_code=303)


@router.get("/work", response_class=HTMLResponse)
async def my_work(request: Request, person: SignedIn, sessions: Sessions,
                  partner: str | None = None, step: str | None = None,
                  part: str | None = None) -> Response:
    """My work; the MARS team's filters: a partner's (or agency's) part, a step, a part of
    the case (its own steps, its LCSPR, its action plan, its differences of opinion)."""
    role = person.role_enum
    async with store_errors(), sessions() as s:
        found = await work_of(s, role, person.organisation, person.email,
                              partnership=person.partnership)
    everyone = role is Role.MARS_TEAM
    if everyone and partner:
        found = [i for i in found if (i.party or "").casefold() == partner.casefold()]
    if everyone and step:
        found = [i for i in found if i.step == step]
    if everyone and part in PARTS:
        found = [i for i in found if i.part == part]
    return render(request, "work.html", person, title="My work", items=found,
                  can_read=can_read_case(role),
                  everyone=everyone, partner=partner or "", step=step or "",
                  part=part if part in PARTS else "", parts=list(PARTS.items()),
                  partners=[p.value for p in Partner],
                  steps=[*(s.value for s in Step), *(s.value for s in LocalReviewStep)])

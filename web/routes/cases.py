"""Cases: the list (search by case id or child reference, filters, pages) and a case's page."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Sessions, TemporalClient
from api.errors import ApiError, store_errors
from api.parallel_schemas import ParallelReviewsRead
from api.routes.case_file import UPLOAD_ROLES, list_case_file
from api.routes.cases import case_state, read_case
from api.routes.reviewers import ASSIGN_ROLES
from api.schemas import CASE_ID_PATTERN, CaseRead, CaseSummary
from api.workflow_calls import read_part
from domain.action_plan import ActionPlanState
from domain.action_plan_records import PlanStep
from domain.calendar import WorkingDayCalendar, london_date, london_instant
from domain.case import OPEN_AT, CaseState, Stage
from domain.case_file import UPLOAD_PREFIX
from domain.local_review import LocalReviewState
from domain.local_review_tasks import OPEN_AT as REVIEW_OPEN_AT
from domain.permissions import (
    Role,
    can_book_meeting,
    can_manage_difference,
    can_raise_difference,
    can_read_case,
    can_record_family,
    can_record_parallel,
    can_record_plan,
    can_record_review_step,
    can_record_step,
    can_resolve_mail,
)
from domain.procedure import Step
from store import assignments, outbox
from store import calendar as calendar_store
from store import cases as store
from store import directory as directory_store
from store import documents as documents_store
from store import meetings as meetings_store
from store.models import Case, Child
from store.tenancy import in_partnership
from web import session
from web.pages import render
from web.routes.case_file import KIND_TEXT
from web.routes.meetings import meeting_rows
from web.routes.parallel import KIND_TEXT as PROCESS_TEXT
from workflows.action_plan import PART as PLAN_PART
from workflows.ids import action_plan_id, local_review_id
from workflows.local_review import PART as LOCAL_REVIEW_PART

router = APIRouter(include_in_schema=False, dependencies=[Depends(session.case_bound)])
State = TypeVar("State", bound=BaseModel)
logger = logging.getLogger("cspr.web")
SignedIn = Annotated[session.Person, Depends(session.signed_in)]
PAGE = 25


def _refused(request: Request, person: session.Person) -> Response:
    return render(request, "error.html", person, 403, title="You cannot see this page",
                  message=f"The {person.role.replace('_', ' ')} role cannot read cases.")


@router.get("/cases", response_class=HTMLResponse)
async def cases_page(
    request: Request, person: SignedIn, sessions: Sessions, q: str = "", stage: str = "",
    overdue: str = "", kind: str = "", year: str = "", page: int = 1,
) -> Response:
    """The cases, newest first: a case id goes straight to it; a child reference finds them."""
    if not can_read_case(person.role_enum):
        return _refused(request, person)
    q = q.strip()
    if re.fullmatch(CASE_ID_PATTERN, q.upper()):
        return RedirectResponse(f"/cases/{q.upper()}", status_code=303)
    page = max(page, 1)
    this_year = london_date(datetime.now(UTC)).year
    years = [str(y) for y in range(this_year, this_year - 10, -1)]
    async with store_errors(), sessions() as s:
        # A reviewer sees only the cases it is assigned to (issue 9, item 8).
        only = (await assignments.cases_of(s, person.email)
                if person.role_enum is Role.REVIEWER else None)
        if q:
            ids = (await s.scalars(select(Child.case_id).where(
                Child.reference == q,
                in_partnership(Child.case_id, person.partnership)))).all()
            if only is not None:
                ids = [i for i in ids if i in only]
            rows = [row for i in sorted(set(ids), reverse=True)
                    if (row := await s.get(Case, i)) is not None]
            total = len(rows)
        else:
            rows_, total = await store.list_cases(
                s, stage=stage if stage in {x.value for x in Stage} else None,
                overdue={"yes": True, "no": False}.get(overdue),
                kind=kind if kind in ("serious_incident", "request") else None,
                limit=PAGE, offset=(page - 1) * PAGE, only=only,
                partnership=person.partnership,
                received=_year(int(year)) if year in years else None)
            rows = list(rows_)
        parts = await store.case_parts(s, [r.case_id for r in rows])
    summaries = [CaseSummary.of(r, parts[r.case_id]) for r in rows]
    return render(request, "cases.html", person, title="Cases", cases=summaries, total=total,
                  q=q, stage=stage, overdue=overdue, kind=kind, page=page, years=years,
                  year=year if year in years else "",
                  pages=max(1, -(-total // PAGE)), stages=[x.value for x in Stage])


def _year(year: int) -> tuple[datetime, datetime]:
    """A calendar year in London, as instants: cases received in it."""
    return london_instant(date(year, 1, 1)), london_instant(date(year + 1, 1, 1))


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: str, person: SignedIn, client: TemporalClient,
                    sessions: Sessions) -> Response:
    """A case: its steps as a task list, decisions, timeline, documents and e-mails."""
    if not can_read_case(person.role_enum):
        return _refused(request, person)
    if not re.fullmatch(CASE_ID_PATTERN, case_id):
        return render(request, "not_found.html", person, 404, title="Page not found")
    async with store_errors(), sessions() as s:
        found = await case_state(client, s, case_id)
        state = found.state
        case = await read_case(s, state)
        events = await store.case_events(s, case_id)
        # The service's letters; the uploaded documents are the case file's, below.
        documents = [d for d in await documents_store.list_documents(s, case_id)
                     if not d.kind.startswith(UPLOAD_PREFIX)]
        case_file = await list_case_file(case_id, s, person.principal())
        meetings = meeting_rows(await meetings_store.of_case(s, case_id))
        parallel = ParallelReviewsRead.of(state, await calendar_store.effective_calendar(
            s, WorkingDayCalendar()))
        mail = await outbox.case_mail(s, case_id)
        review = await _part(client, s, case_id, local_review_id(case_id), LOCAL_REVIEW_PART,
                             "review", LocalReviewState)
        plan = await _part(client, s, case_id, action_plan_id(case_id), PLAN_PART, "plan",
                           ActionPlanState)
        reviewers = list(await assignments.reviewers(s, case_id))
        may_assign = person.role_enum in ASSIGN_ROLES
        reviewer_people = ([p for o in await directory_store.list_organisations(
                                s, partnership=person.partnership)
                            for p in o.people if p.active and p.role == Role.REVIEWER.value]
                           if may_assign else [])
    role = person.role_enum
    may = {step.step.value: can_record_step(role, step.step) for step in case.steps}
    return render(request, "case.html", person, title=case_id, case=case, state=state,
                  # A stored copy known to be behind, the case not answering in its place.
                  stored=found.behind,
                  events=events, documents=documents, mail=mail, may=may,
                  case_file=case_file, kind_text=KIND_TEXT, may_upload=role in UPLOAD_ROLES,
                  parallel=parallel, process_text=PROCESS_TEXT, meetings=meetings,
                  may_book=can_book_meeting(role),
                  may_record_parallel=can_record_parallel(role),
                  may_record_family=can_record_family(role),
                  notices=notices_of(case, state),
                  open_now=[s.step.value for s in case.steps
                            if not state.closed and state.stage in OPEN_AT[s.step]],
                  review=review, review_open=[
                      t.key for t in (review.tasks if review else [])
                      if t.open and review is not None
                      and review.stage in REVIEW_OPEN_AT[t.step]
                      and can_record_review_step(role, t.step)],
                  may_raise_difference=can_raise_difference(role),
                  may_manage_difference=can_manage_difference(role),
                  reviewers=reviewers, may_assign=may_assign,
                  may_resolve_mail=can_resolve_mail(role), key=str(uuid.uuid4()),
                  reviewer_people=reviewer_people,
                  plan=plan, plan_may={
                      step.value: can_record_plan(role, step) is None for step in PlanStep})


# The statutory notifications around a case: the national Panel's, and those a looked after
# child's or a care leaver's death, or a Home Office contribution, call for.
NOTICE_STEPS = (Step.PANEL_NOTIFICATION, Step.NOTIFY_SECRETARY_OF_STATE, Step.NOTIFY_OFSTED,
                Step.NOTIFY_HOME_OFFICE)


def notices_of(case: CaseRead, state: CaseState) -> list[dict[str, Any]]:
    """Each statutory notice the case has: whether it is due, when, and when and how it went
    (its record: sent or notified at, how, the recipient's reference)."""
    records = {r.step: r for r in state.records}
    found = []
    for step in case.steps:
        if step.step not in NOTICE_STEPS:
            continue
        record = records.get(step.step.value)
        found.append({
            "step": step, "sent_at": getattr(record, "sent_at", None)
            or getattr(record, "notified_at", None),
            "method": getattr(record, "method", None),
            "reference": getattr(record, "reference", None)})
    return found


async def _part(client: TemporalClient, s: AsyncSession, case_id: str, workflow_id: str,
                part: str, query: str, state: type[State]) -> State | None:
    """A part of the case (its LCSPR, its action plan) if it has one, read as the API reads
    it: from the store, else from the workflow."""
    try:
        return await read_part(client, s, case_id, workflow_id, part, query, state,
                               ApiError(404, "Not found"))
    except ValidationError:
        # A store copy an older or a stand-in workflow wrote: the case shows without it.
        logger.warning("%s of %s not readable: left off the case page", part, case_id)
        return None
    except ApiError as e:
        if e.problem.status == 404:
            return None
        raise


@router.get("/cases/{case_id}/documents/{document_id}")
async def document(case_id: str, document_id: int, person: SignedIn, sessions: Sessions
                   ) -> Response:
    """A letter or form kept with the case (.docx), for those who may read the case."""
    if not can_read_case(person.role_enum) or not 0 < document_id < 2**31:
        return Response(status_code=404)
    async with store_errors(), sessions() as s:
        found = await documents_store.get_document(s, case_id, document_id)
    if found is None or found.kind.startswith(UPLOAD_PREFIX):
        # An uploaded document is the case file's: /cases/{id}/case-file/{document_id}.
        return Response(status_code=404)
    return Response(found.content, media_type="application/vnd.openxmlformats-officedocument"
                    ".wordprocessingml.document",
                    headers={"Content-Disposition": f'attachment; filename="{found.filename}"'})

"""The reviewers of a case's LCSPR, assigned on the case page: the MARS team (or operations)
chooses a reviewer of the partner directory, or ends an assignment. Through the API's own route
functions (`api.routes.reviewers`), so the same rules apply: a reviewer then reaches this case,
and no case it is not assigned to."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.deps import Sessions
from api.errors import ApiError, from_validation
from api.routes.reviewers import ASSIGN_ROLES, ReviewerAssign, assign_reviewer, unassign_reviewer
from api.schemas import CASE_ID_PATTERN
from web import session
from web.forms import words
from web.pages import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(session.case_bound)])
SignedIn = Annotated[session.Person, Depends(session.signed_in)]


def _refused(request: Request, person: session.Person) -> Response | None:
    if person.role_enum in ASSIGN_ROLES:
        return None
    return render(request, "error.html", person, 403, title="You cannot assign reviewers",
                  message=f"The {words(person.role).lower()} role cannot assign a case's "
                          "reviewers.")


def _error(request: Request, person: session.Person, case_id: str, e: ApiError) -> Response:
    reason = e.problem.errors[0].reason if e.problem.errors else e.problem.detail
    return render(request, "error.html", person, e.problem.status, title=e.problem.title,
                  message=f"The reviewer was not assigned: {reason}.",
                  back=f"/cases/{case_id}#reviewers")


async def _form(request: Request, person: session.Person, case_id: str
                ) -> tuple[FormData, Response | None]:
    """The posted form, its CSRF token checked; with the page to answer instead when the
    person's role cannot assign reviewers or the case id is malformed."""
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if (refused := _refused(request, person)) is not None:
        return form, refused
    if not re.fullmatch(CASE_ID_PATTERN, case_id):
        return form, render(request, "not_found.html", person, 404, title="Page not found")
    return form, None


@router.post("/cases/{case_id}/reviewers", response_class=HTMLResponse)
async def assign(request: Request, case_id: str, person: SignedIn, sessions: Sessions
                 ) -> Response:
    """Assign the directory's reviewer chosen on the case page."""
    form, refused = await _form(request, person, case_id)
    if refused is not None:
        return refused
    chosen = str(form.get("person_id", "")).strip()
    try:
        if not chosen:
            raise ApiError(422, "Select a reviewer", "select the reviewer to assign")
        try:
            body = ReviewerAssign.model_validate({"person_id": chosen})
        except ValidationError as e:
            raise from_validation(e) from None
        await assign_reviewer(case_id, body, sessions, person.principal())
    except ApiError as e:
        return _error(request, person, case_id, e)
    return RedirectResponse(f"/cases/{case_id}#reviewers", status_code=303)


@router.post("/cases/{case_id}/reviewers/remove", response_class=HTMLResponse)
async def unassign(request: Request, case_id: str, person: SignedIn, sessions: Sessions
                   ) -> Response:
    """End a reviewer's assignment (safe to repeat)."""
    form, refused = await _form(request, person, case_id)
    if refused is not None:
        return refused
    subject = str(form.get("subject", "")).strip()
    if not subject or len(subject) > 200:
        return render(request, "not_found.html", person, 404, title="Page not found")
    try:
        await unassign_reviewer(case_id, sessions, person.principal(), subject)
    except ApiError as e:
        return _error(request, person, case_id, e)
    return RedirectResponse(f"/cases/{case_id}#reviewers", status_code=303)

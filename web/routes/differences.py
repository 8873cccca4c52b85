"""Differences of opinion in the workspace: raise one, escalate it to the next level, record
its resolution. Through the API's own route functions (the same rules, the same words, the same
Idempotency-Key), for the roles the permissions table gives."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from api.deps import AppSettings, Sessions, TemporalClient
from api.errors import ApiError
from api.routes.differences import (
    DifferenceEscalation,
    DifferenceRaise,
    DifferenceResolution,
    escalate_difference,
    raise_difference,
    resolve_difference,
)
from api.schemas import CASE_ID_PATTERN
from domain.permissions import Role, can_manage_difference, can_raise_difference
from web import session
from web.forms import Field, body_of, errors_by_field, fields_of, words
from web.pages import render
from web.routes.steps import KEY_FIELD, _problem, _validated, _values

router = APIRouter(include_in_schema=False)
SignedIn = Annotated[session.Person, Depends(session.signed_in)]
DIFFERENCE_ID = r"DOO-[1-9][0-9]{0,3}"
Call = Callable[[Any, str | None], Awaitable[BaseModel | JSONResponse]]


@router.get("/cases/{case_id}/differences/{action}", response_class=HTMLResponse)
@router.get("/cases/{case_id}/differences/{difference_id}/{action}",
            response_class=HTMLResponse)
async def difference_form(request: Request, case_id: str, action: str, person: SignedIn,
                          difference_id: str = "") -> Response:
    found = _which(case_id, difference_id, action, person.role_enum)
    if isinstance(found, str):
        return _refusal(request, person, found)
    model, fields = found
    return _form(request, person, case_id, difference_id, action, fields, {})


@router.post("/cases/{case_id}/differences/{action}", response_class=HTMLResponse)
@router.post("/cases/{case_id}/differences/{difference_id}/{action}",
             response_class=HTMLResponse)
async def difference_record(request: Request, case_id: str, action: str, person: SignedIn,
                            client: TemporalClient, sessions: Sessions, settings: AppSettings,
                            difference_id: str = "") -> Response:
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    found = _which(case_id, difference_id, action, person.role_enum)
    if isinstance(found, str):
        return _refusal(request, person, found)
    model, fields = found
    principal = person.principal()
    calls: dict[str, Call] = {
        "raise": lambda body, key: raise_difference(case_id, body, client, sessions, settings,
                                                    principal, key),
        "escalate": lambda body, key: escalate_difference(case_id, difference_id, body, client,
                                                          sessions, principal, key),
        "resolve": lambda body, key: resolve_difference(case_id, difference_id, body, client,
                                                        sessions, principal, key),
    }
    values = _values(fields, form)
    try:
        body = _validated(model, body_of(fields, form))
        result = await calls[action](body, str(form.get(KEY_FIELD, "")) or None)
    except ApiError as e:
        return _form(request, person, case_id, difference_id, action, fields, values, e)
    if (problem := _problem(result)) is not None:
        return _form(request, person, case_id, difference_id, action, fields, values, problem)
    return RedirectResponse(f"/cases/{case_id}#differences", status_code=303)


_FORMS: dict[str, tuple[type[BaseModel], Callable[[Role], bool], str]] = {
    "raise": (DifferenceRaise, can_raise_difference, "Raise a difference of opinion"),
    "escalate": (DifferenceEscalation, can_manage_difference, "Escalate to the next level"),
    "resolve": (DifferenceResolution, can_manage_difference, "Record the resolution"),
}


def _which(case_id: str, difference_id: str, action: str, role: Role
           ) -> tuple[type[BaseModel], list[Field]] | str:
    """The form's model and questions, or why there is none ("missing" or "refused")."""
    if (action not in _FORMS or not re.fullmatch(CASE_ID_PATTERN, case_id)
            or (action == "raise") != (difference_id == "")
            or (difference_id and not re.fullmatch(DIFFERENCE_ID, difference_id))):
        return "missing"
    model, may, _ = _FORMS[action]
    if not may(role):
        return "refused"
    return model, fields_of(model, skip=("target_working_days",))


def _refusal(request: Request, person: session.Person, why: str) -> Response:
    if why == "missing":
        return render(request, "not_found.html", person, 404, title="Page not found")
    return render(request, "error.html", person, 403, title="You cannot do this",
                  message=f"The {words(person.role).lower()} role cannot do this with a "
                          "difference of opinion.")


def _form(request: Request, person: session.Person, case_id: str, difference_id: str,
          action: str, fields: list[Field], values: dict[str, Any],
          problem: ApiError | None = None) -> Response:
    by_field = errors_by_field(problem.problem.errors, {f.id for f in fields}) if problem else {}
    if problem is not None and "" in by_field and problem.problem.detail:
        by_field[""] = problem.problem.detail
    summary = [{"text": f"{words(f)}: {r}", "href": f"#{f}"} if f else {"text": r}
               for f, r in by_field.items()]
    if problem is not None and not summary:
        summary = [{"text": problem.problem.detail or problem.problem.title}]
    title = _FORMS[action][2] + (f" ({difference_id})" if difference_id else "")
    path = "/".join(p for p in (difference_id, action) if p)
    return render(request, "step.html", person, problem.problem.status if problem else 200,
                  title=title, about="The procedure's differences of opinion: the SSLs and "
                  "the MARS team first, then the safeguarding partners, then an Independent "
                  "Scrutiny Officer.", case_id=case_id, step=action, fields=fields,
                  values=values, field_errors=by_field, errors=summary, key=str(uuid.uuid4()),
                  action=f"/cases/{case_id}/differences/{path}")

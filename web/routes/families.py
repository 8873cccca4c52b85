"""The family told of each decision (issue 9) in the workspace: the form records one through
the API's own route function (`record_family_communication`): the same rules, the same words,
for the roles the permissions table gives. The case page lists the records and the decisions
not yet told."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.deps import Sessions, TemporalClient
from api.errors import ApiError, from_validation
from api.routes.families import record_family_communication
from api.schemas import CASE_ID_PATTERN
from domain.families import FamilyCommunication
from domain.permissions import can_read_case, can_record_family
from web import session
from web.forms import Field, body_of, errors_by_field, fields_of, words
from web.pages import render
from web.routes.steps import _values

router = APIRouter(include_in_schema=False, dependencies=[Depends(session.case_bound)])
SignedIn = Annotated[session.Person, Depends(session.signed_in)]
TITLE = "A decision told to the family"
ABOUT = ("\"Decisions on whether to undertake reviews should be made transparently and the "
         "rationale communicated appropriately, including to families.\" Who was told (a role "
         "is enough), when and how; for the rapid review and the final report, how the family "
         "will be involved.")


def family_fields() -> list[Field]:
    found = fields_of(FamilyCommunication)
    for f in found:
        description = FamilyCommunication.model_fields[f.name].description
        if description and not f.hint:
            f.hint = description[0].upper() + description[1:]
    return found


def _form(request: Request, person: session.Person, case_id: str, values: dict[str, Any],
          problem: ApiError | None = None) -> Response:
    fields = family_fields()
    by_field = errors_by_field(problem.problem.errors, {f.id for f in fields}) if problem else {}
    summary = [{"text": f"{words(f)}: {r}", "href": f"#{f}"} if f else {"text": r}
               for f, r in by_field.items()]
    if problem is not None and not summary:
        summary = [{"text": problem.problem.detail or problem.problem.title}]
    return render(request, "step.html", person, problem.problem.status if problem else 200,
                  title=TITLE, about=ABOUT, case_id=case_id, step="family", fields=fields,
                  values=values, field_errors=by_field, errors=summary, key=str(uuid.uuid4()),
                  action=f"/cases/{case_id}/family")


def _refused(request: Request, person: session.Person) -> Response:
    return render(request, "error.html", person, 403, title="You cannot record this",
                  message=f"The {words(person.role).lower()} role cannot record what the "
                          "family was told.")


def _allowed(person: session.Person) -> bool:
    return can_record_family(person.role_enum) and can_read_case(person.role_enum)


@router.get("/cases/{case_id}/family", response_class=HTMLResponse)
async def family_form(request: Request, case_id: str, person: SignedIn) -> Response:
    if not re.fullmatch(CASE_ID_PATTERN, case_id):
        return render(request, "not_found.html", person, 404, title="Page not found")
    if not _allowed(person):
        return _refused(request, person)
    return _form(request, person, case_id, {})


@router.post("/cases/{case_id}/family", response_class=HTMLResponse)
async def family_record(request: Request, case_id: str, person: SignedIn,
                        client: TemporalClient, sessions: Sessions) -> Response:
    if not re.fullmatch(CASE_ID_PATTERN, case_id):
        return render(request, "not_found.html", person, 404, title="Page not found")
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not _allowed(person):
        return _refused(request, person)
    fields = family_fields()
    values = _values(fields, form)
    try:
        try:
            body = FamilyCommunication.model_validate(body_of(fields, form))
        except ValidationError as e:
            raise from_validation(e) from None
        await record_family_communication(case_id, body, client, sessions, person.principal())
    except ApiError as e:
        if e.problem.status >= 500:
            raise
        return _form(request, person, case_id, values, e)
    return RedirectResponse(f"/cases/{case_id}#family", status_code=303)

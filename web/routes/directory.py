"""The partner directory for those who keep it (the MARS team, operations) and read it
(auditors): the organisations and their people; add an organisation or a person, deactivate a
person. Through the API's own route functions, so the same rules and words apply."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from api.deps import Sessions
from api.errors import ApiError, store_errors
from api.routes.directory import (
    OrganisationCreate,
    PersonCreate,
    PersonUpdate,
    add_person,
    create_organisation,
    update_person,
)
from domain.directory import OrganisationKind
from domain.permissions import Role, can_edit_directory, can_read_directory
from domain.procedure import Partner
from store import directory as store
from web import session
from web.forms import Field, body_of, errors_by_field, words
from web.pages import render
from web.routes.steps import KEY_FIELD, _problem, _validated

router = APIRouter(include_in_schema=False)
SignedIn = Annotated[session.Person, Depends(session.signed_in)]

ORGANISATION_FIELDS = [
    Field("name", "Name", "text", True),
    Field("kind", "Kind", "radios", True, "", [(k.value, words(k.value))
                                               for k in OrganisationKind]),
    Field("partner", "Which partner (a partner organisation only)", "radios", False, "",
          [(p.value, words(p.value)) for p in Partner]),
]
PERSON_FIELDS = [
    Field("name", "Name", "text", True),
    Field("email", "E-mail address", "text", True),
    Field("role", "Role", "radios", True, "Their role's letters and reminders go to them",
          [(r.value, words(r.value)) for r in Role]),
]


async def _page(request: Request, person: session.Person, sessions: Sessions,
                form: str = "", values: dict[str, Any] | None = None,
                problem: ApiError | None = None, organisation_id: int | None = None
                ) -> Response:
    async with store_errors(), sessions() as s:
        listings = await store.list_organisations(s, partnership=person.partnership)
    fields = ORGANISATION_FIELDS if form == "organisation" else PERSON_FIELDS
    by_field = errors_by_field(problem.problem.errors, {f.id for f in fields}) if problem else {}
    if problem is not None and "" in by_field:
        by_field[""] = problem.problem.detail or problem.problem.title
    prefix = f"person-{organisation_id}-" if form == "person" else f"{form}-"
    summary = [{"text": f"{words(f)}: {r}", "href": f"#{prefix}{f}"} if f else {"text": r}
               for f, r in by_field.items()]
    if problem is not None and not summary:
        summary = [{"text": problem.problem.detail or problem.problem.title}]
    return render(request, "directory.html", person, problem.problem.status if problem else 200,
                  title="Partner directory", listings=listings,
                  editor=can_edit_directory(person.role_enum),
                  organisation_fields=ORGANISATION_FIELDS, person_fields=PERSON_FIELDS,
                  form=form, values=values or {}, field_errors=by_field, errors=summary,
                  organisation_id=organisation_id, key=str(uuid.uuid4()))


def _refused(request: Request, person: session.Person) -> Response:
    return render(request, "error.html", person, 403, title="You cannot use this page",
                  message=f"The {words(person.role).lower()} role cannot change the partner "
                          "directory.")


@router.get("/directory", response_class=HTMLResponse)
async def directory_page(request: Request, person: SignedIn, sessions: Sessions) -> Response:
    if not can_read_directory(person.role_enum):
        return render(request, "error.html", person, 403, title="You cannot see this page",
                      message="This role cannot read the partner directory.")
    return await _page(request, person, sessions)


async def _submit(request: Request, person: session.Person, sessions: Sessions, form_name: str,
                  fields: list[Field], model: type[BaseModel], call: Any,
                  organisation_id: int | None = None) -> Response:
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not can_edit_directory(person.role_enum):
        return _refused(request, person)
    values = {k: str(v) for k, v in form.items()}
    try:
        body = _validated(model, body_of(fields, form))
        result: BaseModel | JSONResponse = await call(body, str(form.get(KEY_FIELD, "")) or None)
    except ApiError as e:
        return await _page(request, person, sessions, form_name, values, e, organisation_id)
    if (problem := _problem(result)) is not None:
        return await _page(request, person, sessions, form_name, values, problem,
                           organisation_id)
    return RedirectResponse("/directory", status_code=303)


@router.post("/directory/organisations", response_class=HTMLResponse)
async def new_organisation(request: Request, person: SignedIn, sessions: Sessions) -> Response:
    async def call(body: OrganisationCreate, key: str | None) -> Any:
        return await create_organisation(body, sessions, person.principal(), key)

    return await _submit(request, person, sessions, "organisation", ORGANISATION_FIELDS,
                         OrganisationCreate, call)


@router.post("/directory/organisations/{organisation_id}/people", response_class=HTMLResponse)
async def new_person(request: Request, organisation_id: int, person: SignedIn,
                     sessions: Sessions) -> Response:
    if not 0 < organisation_id < 2**31:
        return render(request, "not_found.html", person, 404, title="Page not found")

    async def call(body: PersonCreate, key: str | None) -> Any:
        return await add_person(organisation_id, body, sessions, person.principal(), key)

    return await _submit(request, person, sessions, "person", PERSON_FIELDS, PersonCreate, call,
                         organisation_id)


@router.post("/directory/people/{person_id}/deactivate", response_class=HTMLResponse)
async def deactivate(request: Request, person_id: int, person: SignedIn, sessions: Sessions
                     ) -> Response:
    if not 0 < person_id < 2**31:
        return render(request, "not_found.html", person, 404, title="Page not found")

    async def call(body: PersonUpdate, key: str | None) -> Any:
        return await update_person(person_id, body, sessions, person.principal(), key)

    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not can_edit_directory(person.role_enum):
        return _refused(request, person)
    try:
        await call(PersonUpdate(active=False), None)
    except ApiError as e:
        return await _page(request, person, sessions, "", {}, e)
    return RedirectResponse("/directory", status_code=303)

"""A case's other processes (Appendix 3) in the workspace: the facts that suggest which may
apply, and each process's record (its lead, the liaison agreed, joint or parallel), recorded by
forms through the API's own route functions (`record_facts`, `record_parallel_process`): the
same rules, the same words, for the roles the permissions table gives. Each form is filled with
what the case holds, as a record replaces the last as a whole."""

from __future__ import annotations

import re
import uuid
from datetime import date
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from api.deps import Session, Sessions, TemporalClient
from api.errors import ApiError, from_validation
from api.parallel_schemas import ParallelReviewsRead
from api.routes.parallel_reviews import get_parallel_reviews, record_facts, record_parallel_process
from api.schemas import CASE_ID_PATTERN
from domain.parallel import CaseFacts, ProcessKind, ProcessRecord
from domain.permissions import can_read_case, can_record_parallel
from web import session
from web.forms import Field, body_of, errors_by_field, fields_of, words
from web.pages import render
from web.routes.steps import _values

router = APIRouter(include_in_schema=False, dependencies=[Depends(session.case_bound)])
SignedIn = Annotated[session.Person, Depends(session.signed_in)]

KIND_TEXT = {
    ProcessKind.DHR: "Domestic homicide review",
    ProcessKind.SAR: "Safeguarding adults review",
    ProcessKind.MAPPA_SCR: "MAPPA serious case review",
    ProcessKind.SFO: "Serious further offence review",
    ProcessKind.YJB_NOTIFICATION: "Youth Justice Board notification",
    ProcessKind.CRIMINAL_INVESTIGATION: "Criminal investigation and proceedings",
    ProcessKind.INQUEST: "Inquest",
    ProcessKind.FAMILY_COURT_CAFCASS: "Family Court proceedings (Cafcass)",
    ProcessKind.PREVENT: "Prevent",
}
_FACT_LABELS = {
    "victim_died": "Did someone die?",
    "victim_age_at_death": "Age of the person who died",
    "perpetrator_relationship": "The suspected perpetrator's relationship to the person who died",
    "offence": "Offence committed or charged (the suspected perpetrator)",
    "mappa_level": "MAPPA level the perpetrator was managed at (1, 2 or 3)",
    "mappa_days_since_level_2_or_3": "Days since the offender was last managed at level 2 or 3",
    "probation_supervised": "Is the perpetrator managed by the Probation Service?",
    "yjs_on_caseload": "Is the child on a youth justice service's caseload?",
    "yjs_supervision_ended_on": "When the child's YJS supervision ended",
    "child_died_on": "When the child died",
    "child_charged_with": "Offence the child is charged with",
    "child_charged_on": "When the child was charged",
    "yjs_aware_on": "When the YJS became aware",
    "adult_care_and_support_needs": "Is an adult with needs for care and support involved?",
    "adult_harm": "What that adult experienced",
    "agencies_concern": "Is there concern about how agencies worked together for that adult?",
    "radicalisation_concern": "Is there a concern about radicalisation?",
    "family_proceedings": "Are there Family Court proceedings about the child?",
    "criminal_investigation": "Is there a criminal investigation?",
    "inquest_opened": "Has an inquest been opened?",
    "liaison_agreed": "Has liaison been agreed with the lead?",
    "liaison": "The liaison agreed",
    "arrangement": "Joint or parallel with the CSPR",
}


def _fields(model: type[BaseModel]) -> list[Field]:
    """The model's questions with the words above and each field's description as its hint."""
    found = fields_of(model)
    for f in found:
        f.label = _FACT_LABELS.get(f.name, f.label)
        description = model.model_fields[f.name].description
        if description and not f.hint:
            f.hint = description[0].upper() + description[1:]
    return found


def values_of(fields: list[Field], record: BaseModel | None) -> dict[str, Any]:
    """A form filled with what the case holds, as the form sends it."""
    values: dict[str, Any] = {}
    if record is None:
        return values
    for f in fields:
        value = getattr(record, f.name, None)
        if value is None:
            continue
        if isinstance(value, bool):
            values[f.id] = "true" if value else "false"
        elif isinstance(value, date):
            values.update({f"{f.id}-day": str(value.day), f"{f.id}-month": str(value.month),
                           f"{f.id}-year": str(value.year)})
        elif isinstance(value, Enum):
            values[f.id] = str(value.value)
        else:
            values[f.id] = str(value)
    return values


def _which(case_id: str, what: str) -> tuple[type[BaseModel], str, ProcessKind | None] | None:
    if not re.fullmatch(CASE_ID_PATTERN, case_id):
        return None
    if what == "facts":
        return CaseFacts, "The facts that decide the other processes", None
    try:
        kind = ProcessKind(what.replace("-", "_"))
    except ValueError:
        return None
    return ProcessRecord, KIND_TEXT[kind], kind


def _form(request: Request, person: session.Person, case_id: str, what: str, title: str,
          fields: list[Field], values: dict[str, Any], problem: ApiError | None = None
          ) -> Response:
    by_field = errors_by_field(problem.problem.errors, {f.id for f in fields}) if problem else {}
    if problem is not None and "" in by_field and problem.problem.detail:
        by_field[""] = problem.problem.detail
    summary = [{"text": f"{words(f)}: {r}", "href": f"#{f}"} if f else {"text": r}
               for f, r in by_field.items()]
    if problem is not None and not summary:
        summary = [{"text": problem.problem.detail or problem.problem.title}]
    about = ("Appendix 3: what is known that decides which other processes may apply. Every "
             "fact is optional; the record replaces the last as a whole." if what == "facts"
             else "Appendix 3: the process's lead, the liaison agreed with them and whether the "
             "reviews are joint or parallel. The record replaces the last as a whole.")
    return render(request, "step.html", person, problem.problem.status if problem else 200,
                  title=title, about=about, case_id=case_id, step="parallel", fields=fields,
                  values=values, field_errors=by_field, errors=summary, key=str(uuid.uuid4()),
                  action=f"/cases/{case_id}/parallel/{what}")


def _refused(request: Request, person: session.Person) -> Response:
    return render(request, "error.html", person, 403, title="You cannot record this",
                  message=f"The {words(person.role).lower()} role cannot record a case's "
                          "other processes.")


@router.get("/cases/{case_id}/parallel/{what}", response_class=HTMLResponse)
async def parallel_form(request: Request, case_id: str, what: str, person: SignedIn,
                        client: TemporalClient, s: Session, sessions: Sessions) -> Response:
    found = _which(case_id, what)
    if found is None:
        return render(request, "not_found.html", person, 404, title="Page not found")
    if not (can_record_parallel(person.role_enum) and can_read_case(person.role_enum)):
        return _refused(request, person)
    model, title, kind = found
    held: ParallelReviewsRead = await get_parallel_reviews(case_id, client, s, sessions,
                                                           person.principal())
    record = held.facts if kind is None else next(
        (p for p in held.processes if p.kind is kind), None)
    fields = _fields(model)
    return _form(request, person, case_id, what, title, fields, values_of(fields, record))


@router.post("/cases/{case_id}/parallel/{what}", response_class=HTMLResponse)
async def parallel_record(request: Request, case_id: str, what: str, person: SignedIn,
                          client: TemporalClient, sessions: Sessions) -> Response:
    found = _which(case_id, what)
    if found is None:
        return render(request, "not_found.html", person, 404, title="Page not found")
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not (can_record_parallel(person.role_enum) and can_read_case(person.role_enum)):
        return _refused(request, person)
    model, title, kind = found
    fields = _fields(model)
    values = _values(fields, form)
    body = body_of(fields, form)
    principal = person.principal()
    try:
        try:
            if kind is None:
                await record_facts(case_id, CaseFacts.model_validate(body), client, sessions,
                                   principal)
            else:
                await record_parallel_process(case_id, kind, ProcessRecord.model_validate(body),
                                              client, sessions, principal)
        except ValidationError as e:
            raise from_validation(e) from None
    except ApiError as e:
        if e.problem.status >= 500:
            raise
        return _form(request, person, case_id, what, title, fields, values, e)
    return RedirectResponse(f"/cases/{case_id}#parallel", status_code=303)

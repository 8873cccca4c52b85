"""The forms that record a case's steps, and the notification that opens a case.

Each posts through the API's own functions (`record_step`, the letters routes, `notify`) with
the form's Idempotency-Key, so a form and a POST refuse the same input with the same words and a
form sent twice is recorded once. A refused form changes nothing and shows why, by the field.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from api.deps import AppSettings, Sessions, TemporalClient
from api.errors import ApiError, FieldError, from_validation
from api.routes.action_plan import record_plan_step
from api.routes.cases import record_step
from api.routes.letters import send_agency_requests, send_inform_partners
from api.routes.local_review import record_review_step
from api.routes.notifications import notify
from api.routes.review_requests import create_review_request
from api.schemas import CASE_ID_PATTERN, CaseRead, NotificationCreate, ReviewRequestCreate
from domain.action_plan_records import PLAN_RECORD_TYPES, PlanStep
from domain.decisions import RECORD_TYPES, AgencyRequests, RecordBase
from domain.local_review_records import REVIEW_RECORD_TYPES, LocalReviewStep
from domain.notification import AbuseOrNeglect, Harm
from domain.permissions import (
    Role,
    can_notify,
    can_read_case,
    can_record_plan,
    can_record_review_step,
    can_record_step,
    can_request,
)
from domain.procedure import CURRENT_PROCEDURE, Step
from domain.request import RequestCategory
from web import session
from web.forms import Field, body_of, errors_by_field, fields_of, words
from web.pages import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(session.case_bound)])
SignedIn = Annotated[session.Person, Depends(session.signed_in)]
RECORD_TYPE_OF: dict[Step, type[RecordBase]] = {
    Step(t.model_fields["step"].default): t for t in RECORD_TYPES}

KEY_FIELD = "idempotency_key"
M = TypeVar("M", bound=BaseModel)
_PARTY_FIELDS = ("partner", "agency")


def _step_of(path: str) -> Step | None:
    try:
        return Step(path.replace("-", "_"))
    except ValueError:
        return None


def _fields(step: Step) -> list[Field]:
    if step is Step.INFORM_PARTNERS:
        return []  # the letters button: the service records the step when they have gone
    fields = fields_of(RECORD_TYPE_OF[step])
    if step is Step.AGENCY_REQUESTS:
        return [f for f in fields if f.name != "completed_on"]  # done when the letters go
    return fields


def _form(request: Request, person: session.Person, case_id: str, step: Step,
          fields: list[Field], values: dict[str, Any], problem: ApiError | None = None
          ) -> Response:
    """The step's form; after a refusal, with the error summary and each error by its field."""
    by_field = errors_by_field(problem.problem.errors, {f.id for f in fields}) if problem else {}
    if problem is not None and "" in by_field and problem.problem.detail:
        by_field[""] = problem.problem.detail  # not a question's: the API's whole answer
    summary: list[dict[str, str]] = []
    if problem is not None:
        summary = [{"text": f"{words(field) if field else ''}{': ' if field else ''}{reason}",
                    "href": f"#{field}"} if field else {"text": reason}
                   for field, reason in by_field.items()]
        if not summary:
            summary = [{"text": problem.problem.detail or problem.problem.title}]
    spec = CURRENT_PROCEDURE.spec(step)
    title, about = spec.title, (f"{'Statutory' if spec.statutory else 'Local'} step. "
                                f"Who: {spec.who}.")
    action = f"/cases/{case_id}/steps/{step.value.replace('_', '-')}"
    return render(
        request, "step.html", person, problem.problem.status if problem else 200,
        title=title, about=about, case_id=case_id, step=step.value, fields=fields,
        values=values, field_errors=by_field, errors=summary, key=str(uuid.uuid4()),
        action=action)


def _refused(request: Request, person: session.Person, step: StrEnum) -> Response:
    return render(request, "error.html", person, 403, title="You cannot record this step",
                  message=f"The {words(person.role).lower()} role cannot record "
                          f"{words(step.value).lower()}.")


@router.get("/cases/{case_id}/steps/{step_path}", response_class=HTMLResponse)
async def step_form(request: Request, case_id: str, step_path: str, person: SignedIn,
                    party: str | None = None) -> Response:
    step = _step_of(step_path)
    if step is None or step not in RECORD_TYPE_OF or not _case_id_ok(case_id):
        return render(request, "not_found.html", person, 404, title="Page not found")
    if not can_record_step(person.role_enum, step):
        return _refused(request, person, step)
    fields = _fields(step)
    # From My work, the party is the person's own: the partner or agency whose part it is.
    values = {f.id: party for f in fields if f.name in _PARTY_FIELDS and party}
    return _form(request, person, case_id, step, fields, values)


def _case_id_ok(case_id: str) -> bool:
    return re.fullmatch(CASE_ID_PATTERN, case_id) is not None


def _problem(result: BaseModel | JSONResponse) -> ApiError | None:
    """A kept answer to a form sent again: a refusal is shown again, as first given."""
    if isinstance(result, JSONResponse) and result.status_code >= 400:
        content = json.loads(bytes(result.body))
        return ApiError(result.status_code, content.get("title", ""), content.get("detail"),
                        [FieldError(**e) for e in content.get("errors", [])])
    return None


@router.post("/cases/{case_id}/steps/{step_path}", response_class=HTMLResponse)
async def record(request: Request, case_id: str, step_path: str, person: SignedIn,
                 client: TemporalClient, sessions: Sessions) -> Response:
    step = _step_of(step_path)
    if step is None or step not in RECORD_TYPE_OF or not _case_id_ok(case_id):
        return render(request, "not_found.html", person, 404, title="Page not found")
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not can_record_step(person.role_enum, step):
        return _refused(request, person, step)
    fields = _fields(step)
    values = _values(fields, form)
    key = str(form.get(KEY_FIELD, "")) or None
    principal = person.principal()
    try:
        result: CaseRead | JSONResponse
        if step is Step.INFORM_PARTNERS:
            result = await send_inform_partners(case_id, client, sessions, principal, key)
        elif step is Step.AGENCY_REQUESTS:
            body = _validated(AgencyRequests, body_of(fields, form))
            result = await send_agency_requests(case_id, client, sessions, principal, body, key)
        else:
            record_ = _validated(RECORD_TYPE_OF[step], body_of(fields, form))
            result = await record_step(client, sessions, case_id, record_, principal, key)
    except ApiError as e:
        return _form(request, person, case_id, step, fields, values, e)
    if (problem := _problem(result)) is not None:
        return _form(request, person, case_id, step, fields, values, problem)
    return _done(person, f"/cases/{case_id}")


def _done(person: session.Person, case_page: str) -> Response:
    """After a record: back to the case, or to My work for a role that may not read cases
    (an agency returning its report)."""
    return RedirectResponse(case_page if can_read_case(person.role_enum) else "/work",
                            status_code=303)


def _validated(model: type[M], body: dict[str, Any]) -> M:
    """The body as the API's model takes it; its refusal as the API words it (422)."""
    try:
        return model.model_validate(body)
    except ValidationError as e:
        raise from_validation(e) from None


@dataclass(frozen=True)
class PartForms:
    """The forms of a part of a case that runs as its own workflow (its LCSPR, its action
    plan): its steps, their record types, who may record them and the API's record call."""

    title: str
    steps: type[StrEnum]
    types: Mapping[Any, type[RecordBase]]
    may: Callable[[Role, Any], bool]
    record: Callable[..., Awaitable[BaseModel | JSONResponse]]


PARTS: dict[str, PartForms] = {
    "local-review": PartForms(
        "LCSPR", LocalReviewStep,
        {LocalReviewStep(t.model_fields["step"].default): t for t in REVIEW_RECORD_TYPES},
        can_record_review_step, record_review_step),
    "action-plan": PartForms(
        "Action plan", PlanStep,
        {PlanStep(t.model_fields["step"].default): t for t in PLAN_RECORD_TYPES},
        lambda role, step: can_record_plan(role, step) is None, record_plan_step),
}


def _part_step(part: str, path: str) -> tuple[PartForms, Any] | None:
    forms = PARTS.get(part)
    if forms is None:
        return None
    try:
        return forms, forms.steps(path.replace("-", "_"))
    except ValueError:
        return None


def _part_form(request: Request, person: session.Person, case_id: str, part: str,
               forms: PartForms, step: Any, fields: list[Field], values: dict[str, Any],
               problem: ApiError | None = None) -> Response:
    by_field = errors_by_field(problem.problem.errors, {f.id for f in fields}) if problem else {}
    if problem is not None and "" in by_field and problem.problem.detail:
        by_field[""] = problem.problem.detail
    summary = [{"text": f"{words(f)}: {r}", "href": f"#{f}"} if f else {"text": r}
               for f, r in by_field.items()]
    if problem is not None and not summary:
        summary = [{"text": problem.problem.detail or problem.problem.title}]
    who = ", ".join(words(r.value) for r in Role if forms.may(r, step))
    return render(
        request, "step.html", person, problem.problem.status if problem else 200,
        title=f"{forms.title}: {words(step.value)}", about=f"Recorded by: {who}.",
        case_id=case_id, step=step.value, fields=fields, values=values, field_errors=by_field,
        errors=summary, key=str(uuid.uuid4()),
        action=f"/cases/{case_id}/{part}/{step.value.replace('_', '-')}")


@router.get("/cases/{case_id}/{part}/{step_path}", response_class=HTMLResponse)
async def part_step_form(request: Request, case_id: str, part: str, step_path: str,
                         person: SignedIn) -> Response:
    """A form of the case's LCSPR or action plan; the query prefills it (the party from My
    work, the action from the plan's table)."""
    found = _part_step(part, step_path)
    if found is None or not _case_id_ok(case_id):
        return render(request, "not_found.html", person, 404, title="Page not found")
    forms, step = found
    if not forms.may(person.role_enum, step):
        return _refused(request, person, step)
    fields = fields_of(forms.types[step])
    prefill = {"partner": "party", "agency": "party", "action_id": "action_id", "to": "to"}
    values = {f.id: request.query_params[prefill[f.name]] for f in fields
              if f.name in prefill and prefill[f.name] in request.query_params}
    return _part_form(request, person, case_id, part, forms, step, fields, values)


@router.post("/cases/{case_id}/{part}/{step_path}", response_class=HTMLResponse)
async def record_part_step(request: Request, case_id: str, part: str, step_path: str,
                           person: SignedIn, client: TemporalClient, sessions: Sessions
                           ) -> Response:
    found = _part_step(part, step_path)
    if found is None or not _case_id_ok(case_id):
        return render(request, "not_found.html", person, 404, title="Page not found")
    forms, step = found
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not forms.may(person.role_enum, step):
        return _refused(request, person, step)
    fields = fields_of(forms.types[step])
    values = _values(fields, form)
    try:
        record_ = _validated(forms.types[step], body_of(fields, form))
        result = await forms.record(client, sessions, case_id, record_, person.principal(),
                                    str(form.get(KEY_FIELD, "")) or None)
    except ApiError as e:
        return _part_form(request, person, case_id, part, forms, step, fields, values, e)
    if (problem := _problem(result)) is not None:
        return _part_form(request, person, case_id, part, forms, step, fields, values, problem)
    return _done(person, f"/cases/{case_id}#{part}")


def _values(fields: list[Field], form: Any) -> dict[str, Any]:
    """What was answered, to show the form again as it was sent."""
    values: dict[str, Any] = {
        f.id: (form.getlist(f.id) if f.kind == "checkboxes" else form.get(f.id, ""))
        for f in fields}
    values.update({k: str(v) for k, v in form.items() if k.endswith(("-day", "-month", "-year"))})
    return values


# Doc 1: the notification that opens a case (one child here; the API takes up to four).
NOTIFICATION_FIELDS = [
    Field("notifying_agency", "Notifying agency", "text", True),
    Field("received_at", "When the MARS team received it", "datetime", False,
          "UK time. Leave it empty for now; give it for a notification received earlier"),
    Field("incident.date", "Date of the incident", "date", True, "For example, 20 11 2026"),
    Field("incident.harm", "Harm", "radios", True, "",
          [(h.value, words(h.value)) for h in Harm]),
    Field("incident.abuse_or_neglect", "Abuse or neglect", "radios", True, "",
          [(a.value, words(a.value)) for a in AbuseOrNeglect]),
    Field("incident.summary", "Summary of the incident", "textarea", False,
          "No names: the child is named by reference only"),
    Field("children.0.reference", "The child's reference", "text", True,
          "The notifying agency's reference, for example NL-123456"),
    Field("children.0.date_of_birth", "The child's date of birth", "date", False),
    Field("children.0.looked_after", "Is the child looked after by a local authority?",
          "radios", False, "", [("true", "Yes"), ("false", "No")]),
    Field("children.0.care_leaver", "Is the child a care leaver?", "radios", False,
          "A care leaver's death is notified to Ofsted",
          [("true", "Yes"), ("false", "No")]),
    # From procedure r4 (when the notification takes them): when the local authority became
    # aware, and whether the partners also consider the criteria for a looked after child's
    # death with no abuse or neglect suspected.
    Field("la_aware_at", "When the local authority became aware of the incident", "datetime",
          False, "UK time, if before the MARS team received it: the Panel is to be notified "
                 "within 5 working days of it"),
    Field("partners_consider_criteria",
          "Do the partners also consider the criteria for a review?", "radios", False,
          "Only for a looked after child's or a care leaver's death with no abuse or neglect "
          "suspected", [("true", "Yes"), ("false", "No")]),
]
# Doc 1's whole record, as the API takes it: case_id aside (a case opened before this service,
# entered through the API), every field the notification has is a question of the form (a
# field the API does not take yet is left off, so the form follows the record).
NOTIFICATION_FIELDS = [f for f in NOTIFICATION_FIELDS
                       if f.name.split(".")[0] in NotificationCreate.model_fields]


@dataclass(frozen=True)
class Opening:
    """A form that opens a case: Doc 1's notification, or a Flowchart 4 review request."""

    title: str
    about: str
    button: str
    action: str
    fields: list[Field]


NOTIFICATION = Opening(
    "Record a notification",
    "Doc 1: a notification of a serious child safeguarding incident. The case's timeline runs "
    "from when the MARS team received it.", "Record the notification", "/notifications/new",
    NOTIFICATION_FIELDS)


def _notification_form(request: Request, person: session.Person, values: dict[str, Any],
                       problem: ApiError | None = None, opening: Opening = NOTIFICATION
                       ) -> Response:
    ids = {f.id for f in opening.fields}
    by_field = errors_by_field(problem.problem.errors, ids) if problem else {}
    if problem is not None and "" in by_field and problem.problem.detail:
        by_field[""] = problem.problem.detail
    labels = {f.id: f.label for f in opening.fields}
    summary = [{"text": f"{labels[f]}: {r}", "href": f"#{f}"} if f else {"text": r}
               for f, r in by_field.items()]
    if problem is not None and not summary:
        summary = [{"text": problem.problem.detail or problem.problem.title}]
    return render(request, "notification.html", person,
                  problem.problem.status if problem else 200, title=opening.title,
                  about=opening.about, button=opening.button,
                  may_request=can_request(person.role_enum) and opening is NOTIFICATION,
                  fields=opening.fields, values=values, field_errors=by_field,
                  errors=summary, key=str(uuid.uuid4()), action=opening.action)


@router.get("/notifications/new", response_class=HTMLResponse)
async def notification_form(request: Request, person: SignedIn) -> Response:
    if not can_notify(person.role_enum):
        return render(request, "error.html", person, 403, title="You cannot record this",
                      message=f"The {words(person.role).lower()} role cannot record a "
                              "notification.")
    return _notification_form(request, person, {})


@router.post("/notifications/new", response_class=HTMLResponse)
async def record_notification(request: Request, person: SignedIn, client: TemporalClient,
                              settings: AppSettings, sessions: Sessions) -> Response:
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not can_notify(person.role_enum):
        return render(request, "error.html", person, 403, title="You cannot record this",
                      message=f"The {words(person.role).lower()} role cannot record a "
                              "notification.")
    values = {k: str(v) for k, v in form.items()}
    try:
        body = _validated(NotificationCreate, body_of(NOTIFICATION_FIELDS, form))
        result = await notify(body, client, settings, sessions, person.principal(),
                              str(form.get(KEY_FIELD, "")) or None)
    except ApiError as e:
        return _notification_form(request, person, values, e)
    if (problem := _problem(result)) is not None:
        return _notification_form(request, person, values, problem)
    case_id = result.case_id if isinstance(result, CaseRead) else \
        result.headers["Location"].rsplit("/", 1)[-1]
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


# Flowchart 4: a request for a local CSPR, made after discussion with the SSLs.
REQUEST = Opening(
    "Record a review request",
    "Flowchart 4: a request to the safeguarding partners for a case to be considered for a "
    "local CSPR, made after discussion with the SSLs. The MARS team then informs the "
    "partners, the SSLs recommend and the partners decide; if all three agree, the LCSPR "
    "starts.", "Record the request", "/review-requests/new", [
        Field("requesting_agency", "Requesting agency", "text", True),
        Field("received_at", "When the MARS team received it", "datetime", False,
              "UK time. Leave it empty for now; give it for a request received earlier"),
        Field("category", "Why it raises issues of importance to the area", "radios", True,
              "", [(c.value, words(c.value)) for c in RequestCategory]),
        Field("summary", "Summary", "textarea", True,
              "No names: the child is named by reference only"),
        Field("discussed_with_ssl", "Was the request discussed with the SSLs first?",
              "radios", True, "", [("true", "Yes"), ("false", "No")]),
        Field("children.0.reference", "The child's reference", "text", True,
              "The requesting agency's reference, for example NL-123456"),
        Field("children.0.date_of_birth", "The child's date of birth", "date", False),
        Field("children.0.looked_after", "Is the child looked after by a local authority?",
              "radios", False, "", [("true", "Yes"), ("false", "No")]),
        Field("children.0.care_leaver", "Is the child a care leaver?", "radios", False, "",
              [("true", "Yes"), ("false", "No")]),
    ])


def _may_not_request(request: Request, person: session.Person) -> Response | None:
    if can_request(person.role_enum):
        return None
    return render(request, "error.html", person, 403, title="You cannot record this",
                  message=f"The {words(person.role).lower()} role cannot record a review "
                          "request.")


@router.get("/review-requests/new", response_class=HTMLResponse)
async def review_request_form(request: Request, person: SignedIn) -> Response:
    if (refused := _may_not_request(request, person)) is not None:
        return refused
    return _notification_form(request, person, {}, opening=REQUEST)


@router.post("/review-requests/new", response_class=HTMLResponse)
async def record_review_request(request: Request, person: SignedIn, client: TemporalClient,
                                settings: AppSettings, sessions: Sessions) -> Response:
    """A review request through the API's own function: the same rules, the same words."""
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if (refused := _may_not_request(request, person)) is not None:
        return refused
    values = {k: str(v) for k, v in form.items()}
    try:
        body = _validated(ReviewRequestCreate, body_of(REQUEST.fields, form))
        result = await create_review_request(body, client, settings, sessions,
                                             person.principal(),
                                             str(form.get(KEY_FIELD, "")) or None)
    except ApiError as e:
        return _notification_form(request, person, values, e, REQUEST)
    if (problem := _problem(result)) is not None:
        return _notification_form(request, person, values, problem, REQUEST)
    case_id = result.case_id if isinstance(result, CaseRead) else \
        result.headers["Location"].rsplit("/", 1)[-1]
    return RedirectResponse(f"/cases/{case_id}", status_code=303)

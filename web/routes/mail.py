"""Settling an uncertain e-mail from the case page (the MARS team): cut off while it was being
sent, it may have gone and is never sent again by itself; once the recipient is asked, it is
confirmed received or sent again. Through the API's own function (`resolve_mail`), with the
form's Idempotency-Key: the same rules and words, and a second press settles nothing twice."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import AppSettings, Sessions, TemporalClient
from api.errors import ApiError
from api.routes.letters import MailResolutionBody, resolve_mail
from api.schemas import CASE_ID_PATTERN
from domain.mail import MailOutcome
from domain.permissions import can_resolve_mail
from web import session
from web.forms import words
from web.pages import render
from web.routes.steps import KEY_FIELD, _problem

router = APIRouter(include_in_schema=False, dependencies=[Depends(session.case_bound)])
SignedIn = Annotated[session.Person, Depends(session.signed_in)]


@router.post("/cases/{case_id}/mail/{message_id}/resolution", response_class=HTMLResponse)
async def settle(request: Request, case_id: str, message_id: int, person: SignedIn,
                 client: TemporalClient, sessions: Sessions, settings: AppSettings
                 ) -> Response:
    form = await request.form()
    session.check_csrf(person, form.get(session.CSRF_FIELD))
    if not can_resolve_mail(person.role_enum):
        return render(request, "error.html", person, 403, title="You cannot settle e-mails",
                      message=f"The {words(person.role).lower()} role cannot settle a case's "
                              "e-mails.")
    if not re.fullmatch(CASE_ID_PATTERN, case_id) or not 0 < message_id < 2**31:
        return render(request, "not_found.html", person, 404, title="Page not found")
    outcome = str(form.get("outcome", ""))
    back = f"/cases/{case_id}#mail"
    if outcome not in {o.value for o in MailOutcome}:
        return render(request, "error.html", person, 422, title="Choose what became of it",
                      message="Nothing was changed: choose Received or Send again.", back=back)
    try:
        result = await resolve_mail(case_id, message_id,
                                    MailResolutionBody(outcome=MailOutcome(outcome)), client,
                                    sessions, person.principal(), settings,
                                    str(form.get(KEY_FIELD, "")) or None)
    except ApiError as e:
        return render(request, "error.html", person, e.problem.status, title=e.problem.title,
                      message=f"Nothing was changed: {e.problem.detail}.", back=back)
    if (problem := _problem(result)) is not None:
        return render(request, "error.html", person, problem.problem.status,
                      title=problem.problem.title,
                      message=f"Nothing was changed: {problem.problem.detail}.", back=back)
    return RedirectResponse(back, status_code=303)

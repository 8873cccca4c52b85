"""Ask the service to send a step's letters: the step is done when they have reached everyone.

Flowchart 1: "Children's MARS Team inform the DSPs of the notification, via email, using 'Doc 2'
... and inform the SSLs ... using 'Doc 3'"; Flowchart 2: "email out letters to each individual
required to submit a report ... and attach the 'Template for Agency report for rapid review'".
The service writes them (`letters/`), e-mails them to the people in the partner directory, and
records the step itself once every one has gone; if some cannot go (nobody listed, refused,
interrupted) the case says so in a `mail_failed` event and the step stays open: fix the
directory and ask again (only those without the letters get them), or record the step by hand
once they have gone another way.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import Sessions, TemporalClient, requires
from api.errors import Problem, invalid
from api.idempotency import IdempotencyKey, once
from api.routes.cases import CaseId, record_as
from api.schemas import CaseRead
from domain.decisions import AgencyRequests, InformPartners
from domain.permissions import Role, can_record_step, recorders
from domain.procedure import Step

router = APIRouter(prefix="/v1/cases", tags=["letters and e-mail"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case"},
    409: {"model": Problem, "description": "The step is not open, or its letters are being "
                                           "sent"},
    503: {"model": Problem, "description": "Temporal cannot be reached"},
}


def _may_inform(role: Role) -> bool:
    return can_record_step(role, Step.INFORM_PARTNERS)


def _may_ask_agencies(role: Role) -> bool:
    return can_record_step(role, Step.AGENCY_REQUESTS)


InformSender = Annotated[Principal, Depends(requires(_may_inform,
                                                    "send the letters of inform_partners"))]
AgencySender = Annotated[Principal, Depends(requires(_may_ask_agencies,
                                                     "send the letters of agency_requests"))]
_WHO_INFORMS = who_may(recorders(Step.INFORM_PARTNERS))
_WHO_ASKS = who_may(recorders(Step.AGENCY_REQUESTS))


@router.post(
    "/{case_id}/letters/inform-partners", response_model=CaseRead, responses=_ERRORS,
    description="Write Doc 2 (to each partner's DSPs) and Doc 3 (to the SSLs), each with Doc 4, "
    "keep them with the case and e-mail them; `inform_partners` is recorded when they have "
    f"reached everyone (the case shows `letters_in_flight` meanwhile).\n\n{_WHO_INFORMS}",
)
async def send_inform_partners(
    case_id: CaseId, client: TemporalClient, sessions: Sessions, principal: InformSender,
    key: IdempotencyKey = None,
) -> CaseRead | JSONResponse:
    """Send the letters informing the partners (Flowchart 1, R+1)."""
    return await once(sessions, key, principal,
                      f"POST /v1/cases/{case_id}/letters/inform-partners", {}, 200,
                      lambda: record_as(client, sessions, case_id, InformPartners(), principal,
                                        "send_letters"))


@router.post(
    "/{case_id}/letters/agency-requests", response_model=CaseRead, responses=_ERRORS,
    description="Write the rapid review request letter and the agency report template for each "
    "agency named, keep them with the case and e-mail them to the agency's people; "
    "`agency_requests` is recorded when they have reached everyone.\n\n" + _WHO_ASKS,
)
async def send_agency_requests(
    case_id: CaseId, client: TemporalClient, sessions: Sessions, principal: AgencySender,
    body: Annotated[AgencyRequests, Body()], key: IdempotencyKey = None,
) -> CaseRead | JSONResponse:
    """Send the rapid review's requests to the agencies (Flowchart 2, D+1)."""
    if body.completed_on is not None:
        raise invalid("completed_on", "not used here: the step is done when the letters go")
    return await once(sessions, key, principal,
                      f"POST /v1/cases/{case_id}/letters/agency-requests",
                      body.model_dump(mode="json"), 200,
                      lambda: record_as(client, sessions, case_id, body, principal,
                                        "send_letters"))

"""New cases from a request for a CSPR where the serious-case definition is not met
(Appendix 2, Flowchart 4): good practice, poor practice, a near miss or other circumstances."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import AppSettings, Sessions, TemporalClient, requires
from api.errors import Problem, from_validation, invalid
from api.idempotency import IdempotencyKey
from api.opening import check_children, open_case
from api.schemas import CaseRead, ReviewRequestCreate
from domain.calendar import london_date
from domain.case import Stage
from domain.permissions import REQUEST_ROLES, can_request
from domain.procedure import CURRENT_REQUEST_PROCEDURE
from workflows.review_request import RequestInput

router = APIRouter(prefix="/v1", tags=["cases"])
Requester = Annotated[Principal, Depends(requires(can_request, "record a review request"))]


@router.post(
    "/review-requests", status_code=201, response_model=CaseRead,
    responses={**AUTH_RESPONSES,
               503: {"model": Problem, "description": "Temporal or the case store cannot be "
                                                      "reached; try again"}},
    description="Record a request to the safeguarding partners for a case to be considered for "
                "a local CSPR (Flowchart 4), made after discussion with the SSLs, and start its "
                "case: the MARS team informs the partners, the SSLs recommend, the partners "
                "decide (the same step routes as a notification's first three). If all three "
                "agree, the LCSPR starts from their decision. Its case number is from the same "
                f"sequence as notifications'.\n\n{who_may(REQUEST_ROLES)}",
)
async def create_review_request(
    body: ReviewRequestCreate, client: TemporalClient, settings: AppSettings,
    sessions: Sessions, principal: Requester, key: IdempotencyKey = None,
) -> CaseRead | JSONResponse:
    """Record a review request (Flowchart 4) and start its case."""
    now = datetime.now(UTC)
    received_at = body.received_at or now
    if received_at > now:
        raise invalid("received_at", "is in the future")
    check_children(len(body.children), settings.max_children)
    if any(c.date_of_birth and c.date_of_birth > london_date(received_at) for c in body.children):
        raise invalid("children", "a date of birth is after the request was received")
    try:
        request = body.to_request(received_at)
    except ValidationError as e:
        raise from_validation(e) from None
    return await open_case(
        client=client, settings=settings, sessions=sessions, principal=principal, key=key,
        method_path="POST /v1/review-requests", body=body, now=now, given_id=None,
        workflow="ReviewRequest", stage=Stage.REQUESTED,
        input_of=lambda case_id: RequestInput(
            case_id=case_id, procedure_version=CURRENT_REQUEST_PROCEDURE.version,
            request=request, actor=principal.actor(),
            difference_targets=settings.difference_targets,
            service_rules=settings.service_rules),
    )

"""Amend a notification (issue 9, "Cases that can be corrected"): a date of birth learned
later, a child added, a looked after or care leaver status corrected.

The MARS team sends every child as the notification should now read, with a reason. The
amended notification is checked as a new one is (distinct references, no birth after the
incident, at most CSPR_MAX_CHILDREN children (default four: the service's own limit),
`not_suspected` only where it may be); the statutory notices
are worked out again (a notice now owed gets its due date; one no longer owed and not yet made
is marked not required; one made stays made). The amendment is kept with the case (why, what
changed by position, the children before, who, when) and the trail gains a
`notification_amended` event naming the changes by position and field, never their values.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import Sessions, TemporalClient, requires
from api.errors import Problem
from api.idempotency import IdempotencyKey
from api.routes.cases import CaseId, case_update_once
from api.schemas import CaseRead
from domain.case import AmendmentMessage, NotificationAmendment
from domain.permissions import AMEND_ROLES, can_amend_notification

router = APIRouter(prefix="/v1/cases", tags=["cases"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case"},
    409: {"model": Problem, "description": "The case is closed (or still opening), or is a "
                                           "request (no notification)"},
    422: {"model": Problem, "description": "A field is wrong: the amended notification fails "
                                           "a notification's checks, changes nothing, or would "
                                           "change whether Flowcharts 1 and 2 apply"},
    503: {"model": Problem, "description": "Temporal or the case store cannot be reached"},
}
Amender = Annotated[Principal, Depends(requires(can_amend_notification,
                                                "amend a notification"))]


@router.post(
    "/{case_id}/notification/amendments", response_model=CaseRead, responses=_ERRORS,
    description="Amend the notification's children (a date of birth learned later, a child "
    "added, a looked after or care leaver status corrected): `children` is every child as the "
    "notification should now read, `reason` why. The amended notification is checked as a new "
    "one is; the statutory notices (Secretary of State, Ofsted) are worked out again: a notice "
    "now owed is dated on its clock, one no longer owed and not made is not required, one made "
    "stays made. An amendment that would change whether Flowcharts 1 and 2 apply (a care "
    "leaver's notices only) is refused: withdraw the case and notify again. The case keeps "
    "each amendment (`amendments`) and the trail a `notification_amended` event.\n\n"
    + who_may(AMEND_ROLES),
)
async def amend_notification(
    case_id: CaseId, body: NotificationAmendment, client: TemporalClient, sessions: Sessions,
    principal: Amender, key: IdempotencyKey = None,
) -> CaseRead | JSONResponse:
    """Amend the notification (the MARS team, with a reason)."""
    return await case_update_once(
        client, sessions, case_id, key, principal, "notification/amendments", body,
        AmendmentMessage(amendment=body, actor=principal.actor()), "amend_notification")

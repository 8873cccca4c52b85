"""Withdraw a case entered in error or a confirmed duplicate (issue 9, "Cases that can be
corrected").

The MARS team withdraws it with a reason (and the case it duplicates, if it is one): the case
closes as `withdrawn`; its LCSPR and action plan, if they have started, end and say so in the
case store (stage `withdrawn`); no further reminder or letter goes. Nothing is deleted: the
steps, records and events stay, and the trail gains a `withdrawn` event naming who withdrew it.
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
from domain.case import Withdrawal, WithdrawalMessage
from domain.permissions import WITHDRAW_ROLES, can_withdraw

router = APIRouter(prefix="/v1/cases", tags=["cases"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case"},
    409: {"model": Problem, "description": "The case is closed (or still opening)"},
    422: {"model": Problem, "description": "A field is wrong (the reason empty, "
                                           "duplicate_of this case itself)"},
    503: {"model": Problem, "description": "Temporal or the case store cannot be reached"},
}
Withdrawer = Annotated[Principal, Depends(requires(can_withdraw, "withdraw a case"))]


@router.post(
    "/{case_id}/withdrawal", response_model=CaseRead, responses=_ERRORS,
    description="Withdraw a case entered in error or a confirmed duplicate (`duplicate_of`: "
    "the case it duplicates). The case closes with outcome `withdrawn`; its LCSPR and action "
    "plan, if started, end with stage `withdrawn` and say so in the case store; no further "
    "reminder or letter goes. Nothing is deleted: the audit trail keeps every record and a "
    "`withdrawn` event with who withdrew it; the reason is kept with the case "
    "(`withdrawal`), not in the events. A closed case cannot be withdrawn (409).\n\n"
    + who_may(WITHDRAW_ROLES),
)
async def withdraw_case(
    case_id: CaseId, body: Withdrawal, client: TemporalClient, sessions: Sessions,
    principal: Withdrawer, key: IdempotencyKey = None,
) -> CaseRead | JSONResponse:
    """Withdraw the case (the MARS team, with a reason)."""
    return await case_update_once(
        client, sessions, case_id, key, principal, "withdrawal", body,
        WithdrawalMessage(withdrawal=body, actor=principal.actor()), "withdraw")

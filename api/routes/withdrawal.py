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
from api.errors import Problem, not_found, store_errors
from api.idempotency import IdempotencyKey, once
from api.routes.cases import CaseId, read_case
from api.schemas import CaseRead
from api.workflow_calls import record_update
from domain.case import CaseState, Withdrawal, WithdrawalMessage
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

    async def send() -> CaseRead:
        message = WithdrawalMessage(withdrawal=body, actor=principal.actor())
        case = await record_update(client, case_id, case_id, message, CaseState,
                                   not_found(case_id), "the case is closed", update="withdraw")
        async with store_errors(), sessions() as session:
            return await read_case(session, case)

    return await once(sessions, key, principal, f"POST /v1/cases/{case_id}/withdrawal",
                      body.model_dump(mode="json"), 200, send)

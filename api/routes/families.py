"""The family told of each decision (issue 9, "Duties nobody can record yet"): "Decisions on
whether to undertake reviews should be made transparently and the rationale communicated
appropriately, including to families"; and families "understand how they are going to be
involved". Each record says who was told (a role is enough), when, how, for which decision,
and (rapid review, final report) how the family will be involved; the case shows them
(`families` on the case), and reminds the MARS team weekly (the service's own interval) while
a decision it made is not yet told.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import Sessions, TemporalClient, requires
from api.errors import ApiError, FieldError, Problem, invalid, not_found, store_errors
from api.idempotency import IdempotencyKey, once
from api.routes.cases import CaseId, read_case
from api.schemas import CaseRead
from api.workflow_calls import WorkflowEnded, record_update
from domain.case import CaseState, StepNotOpen
from domain.families import FamilyCommunication, FamilyMessage, InvalidFamilyRecord
from domain.permissions import FAMILY_ROLES, can_record_family
from store.families import NotRecordable, record_after_close

router = APIRouter(prefix="/v1/cases", tags=["cases"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case"},
    409: {"model": Problem, "description": "The case is still opening or closing, was "
                                           "withdrawn, or was opened before family "
                                           "communications were recorded"},
    422: {"model": Problem, "description": "A field is wrong: told_on in the future or before "
                                           "the case, involvement missing where required"},
    503: {"model": Problem, "description": "Temporal or the case store cannot be reached"},
}
Recorder = Annotated[Principal, Depends(requires(can_record_family,
                                                 "record a family communication"))]


@router.post(
    "/{case_id}/family-communications", response_model=CaseRead, responses=_ERRORS,
    description=f"{FamilyCommunication.__doc__} `decision`: partners_decision, rapid_review "
    "or final_report (`involvement` required for the last two). The case keeps each "
    "(`families.records`), lists the decisions not yet told (`families.owed`) and reminds the "
    "MARS team of each a week after it was made, then weekly: the reminder and its interval "
    "are the service's own (the procedure sets no time). A closed case takes the record too "
    "(a decision that closed it, criteria not met, is owed as any other): once its workflow "
    "has ended, in its stored copy and audit trail; it reminds no more.\n\n"
    + who_may(FAMILY_ROLES),
)
async def record_family_communication(
    case_id: CaseId, body: FamilyCommunication, client: TemporalClient, sessions: Sessions,
    principal: Recorder, key: IdempotencyKey = None,
) -> CaseRead | JSONResponse:
    """Record a decision's rationale told to the family."""

    async def send() -> CaseRead:
        message = FamilyMessage(record=body, actor=principal.actor())
        try:
            case = await record_update(client, case_id, case_id, message, CaseState,
                                       not_found(case_id), "the case is closed",
                                       update="record_family_communication")
        except WorkflowEnded:
            # Closed, its workflow ended: the stored copy is the case's record now.
            case = await _after_close(sessions, case_id, body, principal)
        async with store_errors(), sessions() as session:
            return await read_case(session, case)

    return await once(sessions, key, principal,
                      f"POST /v1/cases/{case_id}/family-communications",
                      body.model_dump(mode="json"), 200, send)


async def _after_close(sessions: Sessions, case_id: str, body: FamilyCommunication,
                       principal: Principal) -> CaseState:
    """A decision told to the family after the case closed (the partners' "criteria not met"
    closes it at once): recorded in the closed case's stored copy and its audit trail."""
    try:
        async with store_errors(), sessions.begin() as session:
            return await record_after_close(session, case_id, body, principal.actor(),
                                            datetime.now(UTC))
    except LookupError:
        raise not_found(case_id) from None
    except (StepNotOpen, NotRecordable) as e:
        reason = e.reason if isinstance(e, StepNotOpen) else str(e)
        raise ApiError(409, "Step not open", f"{case_id}: {reason}",
                       [FieldError(field="step", reason=reason)]) from None
    except InvalidFamilyRecord as e:
        raise invalid(e.field, e.reason) from None

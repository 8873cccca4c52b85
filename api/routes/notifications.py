"""New cases: a notification of a serious child safeguarding incident starts one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import AppSettings, Sessions, TemporalClient, requires
from api.errors import (
    ApiError,
    Problem,
    from_validation,
    invalid,
    store_errors,
    temporal_errors,
)
from api.idempotency import IdempotencyKey, once
from api.schemas import CaseRead, NotificationCreate
from domain.calendar import london_date
from domain.case import CaseState, Stage
from domain.notification import Notification
from domain.permissions import NOTIFY_ROLES, can_notify
from domain.procedure import CURRENT_PROCEDURE
from store.cases import allocate_case_number
from workflows import search_attributes as sa
from workflows.serious_incident import CaseInput, SeriousIncidentWorkflow

router = APIRouter(prefix="/v1", tags=["cases"])
Notifier = Annotated[Principal, Depends(requires(can_notify, "record a notification"))]
_ATTEMPTS = 20


@router.post(
    "/notifications", status_code=201, response_model=CaseRead,
    responses={**AUTH_RESPONSES,
               409: {"model": Problem, "description": "A case with this id already exists"},
               503: {"model": Problem, "description": "Temporal or the case store cannot be "
                                                      "reached; try again"}},
    description="Record a notification (Doc 1) and start its case; the timeline runs from its "
                "receipt. The answer is the case with its due dates; a likely duplicate (the "
                "same child and incident date as another case) is flagged on it.\n\n"
                f"{who_may(NOTIFY_ROLES)}",
)
async def create_notification(
    body: NotificationCreate, client: TemporalClient, settings: AppSettings,
    sessions: Sessions, principal: Notifier, key: IdempotencyKey = None,
) -> CaseRead | JSONResponse:
    """Record a notification (Doc 1) and start its case; the timeline runs from its receipt."""
    now = datetime.now(UTC)
    received_at = body.received_at or now
    if received_at > now:
        raise invalid("received_at", "is in the future")
    try:
        notification = body.to_notification(received_at)
    except ValidationError as e:
        raise from_validation(e) from None

    async def start() -> CaseRead:
        case_id = await _start_case(client, settings, sessions, principal, notification,
                                    body.case_id, now)
        async with temporal_errors(case_id):
            # Answers once the due dates are set and the case is stored: the reply shows them.
            case = await client.get_workflow_handle(case_id).execute_update(
                "opened", result_type=CaseState)
        return CaseRead.of(case, CURRENT_PROCEDURE)

    result = await once(sessions, key, principal, "POST /v1/notifications",
                        body.model_dump(mode="json"), 201, start)
    case_id = result.case_id if isinstance(result, CaseRead) else _case_id_of(result)
    if case_id:
        response_headers = {"Location": f"/v1/cases/{case_id}"}
        if isinstance(result, JSONResponse):
            result.headers.update(response_headers)
        else:
            return JSONResponse(result.model_dump(mode="json"), status_code=201,
                                headers=response_headers)
    return result


def _case_id_of(response: JSONResponse) -> str | None:
    content = json.loads(bytes(response.body))
    return content.get("case_id") if isinstance(content, dict) else None


async def _start_case(
    client: TemporalClient, settings: AppSettings, sessions: Sessions, principal: Principal,
    notification: Notification, given_id: str | None, now: datetime,
) -> str:
    """Start the case's workflow under a new case number (or the id given for a case opened
    before this service). The number's row stays locked until the start is recorded, so numbers
    are given one at a time and a failed start gives its number back: no gaps, no races."""
    year = london_date(now).year
    async with store_errors(), sessions.begin() as session:
        for _ in range(_ATTEMPTS):
            case_id = given_id or f"CSPR-{year}-{await allocate_case_number(session, year):04d}"
            try:
                async with temporal_errors(case_id):
                    await client.start_workflow(
                        SeriousIncidentWorkflow.run,
                        CaseInput(case_id=case_id, procedure_version=CURRENT_PROCEDURE.version,
                                  notification=notification, actor=principal.actor()),
                        id=case_id,
                        task_queue=settings.task_queue,
                        # One case per id, ever: a second start is refused, not run twice.
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                        search_attributes=TypedSearchAttributes([
                            SearchAttributePair(sa.CASE_ID, case_id),
                            SearchAttributePair(sa.STAGE, Stage.NOTIFIED.value),
                        ]),
                    )
                return case_id
            except ApiError as e:
                # A number already taken by a case entered with its own id: take the next.
                if given_id or e.problem.status != 409:
                    raise
    raise ApiError(503, "Service unavailable", "no free case number; try again",
                   headers={"Retry-After": "1"})

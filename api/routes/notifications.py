"""New cases: a notification of a serious child safeguarding incident starts one."""

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
from api.schemas import CaseRead, NotificationCreate
from domain.case import Stage
from domain.permissions import NOTIFY_ROLES, can_notify
from domain.procedure import CURRENT_PROCEDURE
from workflows.serious_incident import CaseInput

router = APIRouter(prefix="/v1", tags=["cases"])
Notifier = Annotated[Principal, Depends(requires(can_notify, "record a notification"))]


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
    return await notify(body, client, settings, sessions, principal, key)


async def notify(
    body: NotificationCreate, client: TemporalClient, settings: AppSettings, sessions: Sessions,
    principal: Principal, key: str | None,
) -> CaseRead | JSONResponse:
    """Open a case on a notification: the API's route and the workspace's form."""
    now = datetime.now(UTC)
    received_at = body.received_at or now
    if received_at > now:
        raise invalid("received_at", "is in the future")
    check_children(len(body.children), settings.max_children)
    try:
        notification = body.to_notification(received_at)
    except ValidationError as e:
        raise from_validation(e) from None
    return await open_case(
        client=client, settings=settings, sessions=sessions, principal=principal, key=key,
        method_path="POST /v1/notifications", body=body, now=now, given_id=body.case_id,
        workflow="SeriousIncident", stage=Stage.NOTIFIED,
        input_of=lambda case_id: CaseInput(
            case_id=case_id, procedure_version=CURRENT_PROCEDURE.version,
            notification=notification, actor=principal.actor(),
            difference_targets=settings.difference_targets,
            panel_information_days=settings.panel_information_target_days,
            service_rules=settings.service_rules),
    )

"""New cases: a notification of a serious child safeguarding incident starts one."""

from __future__ import annotations

import contextlib
import secrets
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Response
from pydantic import ValidationError
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from api.auth import AUTH_RESPONSES, who_may
from api.deps import AppSettings, TemporalClient, requires
from api.errors import Problem, from_validation, invalid, temporal_errors
from api.schemas import CaseRead, NotificationCreate
from domain.case import CaseState, Stage
from domain.permissions import NOTIFY_ROLES, can_notify
from domain.procedure import CURRENT_PROCEDURE
from workflows import search_attributes as sa
from workflows.serious_incident import CaseInput, SeriousIncidentWorkflow

router = APIRouter(prefix="/v1", tags=["cases"])
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read out on the phone


def new_case_id(now: datetime) -> str:
    return f"CSPR-{now.year}-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


@router.post(
    "/notifications", status_code=201, response_model=CaseRead,
    responses={**AUTH_RESPONSES,
               409: {"model": Problem, "description": "A case with this id already exists"}},
    dependencies=[Depends(requires(can_notify, "record a notification"))],
    description="Record a notification (Doc 1) and start its case; the timeline runs from its "
                f"receipt.\n\n{who_may(NOTIFY_ROLES)}",
)
async def create_notification(
    body: NotificationCreate, client: TemporalClient, settings: AppSettings, response: Response
) -> CaseRead:
    """Record a notification (Doc 1) and start its case; the timeline runs from its receipt."""
    now = datetime.now(UTC)
    received_at = body.received_at or now
    if received_at > now:
        raise invalid("received_at", "is in the future")
    try:
        notification = body.to_notification(received_at)
    except ValidationError as e:
        raise from_validation(e) from None
    case_id = body.case_id or new_case_id(now)
    start = WithStartWorkflowOperation(
        SeriousIncidentWorkflow.run,
        CaseInput(case_id=case_id, procedure_version=CURRENT_PROCEDURE.version,
                  notification=notification),
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
    try:
        async with temporal_errors():
            # Update-with-start answers once the due dates are set, so the reply shows them.
            case = await client.execute_update_with_start_workflow(
                "opened", start_workflow_operation=start, result_type=CaseState
            )
    finally:
        if start._workflow_handle.done():  # the start's own outcome: the same failure
            with contextlib.suppress(Exception):
                await start.workflow_handle()
    response.headers["Location"] = f"/v1/cases/{case_id}"
    return CaseRead.of(case, CURRENT_PROCEDURE)

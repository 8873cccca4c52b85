"""Data protection requests, for operations on the data protection officer's word: a child's
subject access export, and the rectification or erasure of one closed case (README,
Operations)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import Sessions, TemporalClient, requires
from api.errors import ApiError, Problem, not_found, store_errors, temporal_errors
from api.routes.cases import CaseId
from domain.notification import Reference, Text
from domain.permissions import DATA_PROTECTION_ROLES, can_handle_data_requests
from store import rectification, retention, subject_access
from store.models import Case
from workflows.ids import action_plan_id, local_review_id

router = APIRouter(tags=["data protection"])
Officer = Annotated[Principal, Depends(requires(can_handle_data_requests,
                                                "handle data protection requests"))]


class SubjectAccessRequest(BaseModel):
    """In the body, not the URL: a child's reference never reaches a log or a proxy."""

    model_config = ConfigDict(extra="forbid")
    child_reference: Reference


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "DPO ref 2026/114: erasure agreed, no safeguarding purpose remains"}]})
    reason: Text  # recorded in the case's audit trail: the decision, never the child's details


class RectificationRequest(BaseModel):
    """The child's details as they should read; a field left out is kept."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"child_position": 0, "date_of_birth": "2019-02-04",
         "reason": "DPO ref 2026/120: date of birth mistyped on Doc 1"}]})
    child_position: int = Field(ge=0, le=3, description="The child's place in the notification")
    reference: Reference | None = None
    date_of_birth: date | None = None
    reason: Text


class RectificationRead(BaseModel):
    case_id: str
    corrected: list[str]  # the fields changed


class ErasureRead(BaseModel):
    case_id: str
    rows: dict[str, int]  # anonymised, by kind of record
    workflows_deleted: list[str]  # closed workflows removed from Temporal


@router.post(
    "/v1/admin/subject-access", response_class=Response,
    responses={**AUTH_RESPONSES, 200: {"content": {"application/zip": {}},
                                       "description": "The archive (zip)"}},
    description="Everything the case store holds about one child (each case's record, LCSPR "
                "and action plan, steps, audit trail, e-mails and documents) as one zip "
                "archive; each case's audit trail notes the export.\n\n"
                f"{who_may(DATA_PROTECTION_ROLES)}",
)
async def subject_access_export(body: SubjectAccessRequest, principal: Officer,
                                sessions: Sessions) -> Response:
    """Export everything held about one child reference."""
    async with store_errors(), sessions.begin() as session:
        archive = await subject_access.export(session, body.child_reference,
                                              principal.role.value, principal.partnership)
    return Response(archive, media_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="subject-access.zip"'})


@router.post(
    "/v1/cases/{case_id}/erasure", response_model=ErasureRead,
    responses={**AUTH_RESPONSES,
               404: {"model": Problem, "description": "No such case"},
               409: {"model": Problem, "description": "The case is still running"}},
    description="Anonymise every record of one closed case now (as the retention schedule "
                "would), with the reason in its audit trail, and delete its closed workflows "
                "from Temporal. A running case is refused: it is closed or withdrawn first.\n\n"
                f"{who_may(DATA_PROTECTION_ROLES)}",
)
async def erase_case(case_id: CaseId, body: ErasureRequest, principal: Officer,
                     client: TemporalClient, sessions: Sessions) -> ErasureRead:
    """Erase one closed case's personal details, for a reason recorded."""
    async with store_errors(), sessions() as session:
        if await session.get(Case, case_id) is None:
            raise not_found(case_id)
    workflow_ids = [case_id, local_review_id(case_id), action_plan_id(case_id)]
    async with temporal_errors(case_id):
        closed = [w for w in workflow_ids if await _closed(client, w)]
    async with store_errors(), sessions.begin() as session:
        rows = await retention.erase(session, case_id, body.reason, principal.role.value)
    # The histories are encrypted; deleting them keeps `cspr reconcile` from bringing the
    # details back, and leaves nothing until the namespace's retention ends.
    async with temporal_errors(case_id):
        for workflow_id in closed:
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=workflow_id)))
    return ErasureRead(case_id=case_id, rows=rows, workflows_deleted=closed)


@router.post(
    "/v1/cases/{case_id}/rectification", response_model=RectificationRead,
    responses={**AUTH_RESPONSES,
               404: {"model": Problem, "description": "No such case"},
               409: {"model": Problem, "description": "The case is running or anonymised"}},
    description="Correct a child's reference or date of birth in a closed case's record, with "
                "the reason in its audit trail (which names the fields, never the values). A "
                "running case's record is its workflow's: refused (409).\n\n"
                f"{who_may(DATA_PROTECTION_ROLES)}",
)
async def rectify_case(case_id: CaseId, body: RectificationRequest, principal: Officer,
                       sessions: Sessions) -> RectificationRead:
    """Correct one child's details in a closed case, for a reason recorded."""
    extra = ({"date_of_birth": body.date_of_birth}
             if "date_of_birth" in body.model_fields_set else {})
    try:
        async with store_errors(), sessions.begin() as session:
            fields = await rectification.rectify(
                session, case_id, body.child_position, body.reason, principal.role.value,
                reference=body.reference, **extra)
    except LookupError:
        raise not_found(case_id) from None
    except rectification.NotCorrectable as e:
        raise ApiError(409, "Case not correctable here", str(e)) from None
    return RectificationRead(case_id=case_id, corrected=fields)


async def _closed(client: Client, workflow_id: str) -> bool:
    """True if the workflow exists and has closed; 409 if it is still running."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    if described.raw_description.workflow_execution_info.status == \
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
        raise ApiError(409, "Case still running",
                       f"{workflow_id} is still running: the case is closed or withdrawn "
                       "(its workflow terminated, with the reason) before it is erased")
    return True

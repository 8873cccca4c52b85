"""A case: read it, and record each step's decision (a Workflow Update, validated first)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import TemporalClient
from api.errors import ApiError, Problem, temporal_errors
from api.schemas import CASE_ID_PATTERN, CaseRead
from domain.case import CaseState
from domain.decisions import RECORD_TYPES, Decision, RecordBase
from domain.procedure import procedure
from workflows.serious_incident import SeriousIncidentWorkflow

router = APIRouter(prefix="/v1/cases", tags=["cases"])
CaseId = Annotated[str, Path(pattern=CASE_ID_PATTERN, examples=["CSPR-2026-7KQ2MX"])]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such case"},
    503: {"model": Problem, "description": "Temporal cannot be reached"},
}


def _read(case: CaseState) -> CaseRead:
    return CaseRead.of(case, procedure(case.procedure_version))


@router.get("/{case_id}", response_model=CaseRead, responses=_ERRORS)
async def get_case(case_id: CaseId, client: TemporalClient) -> CaseRead:
    """The case: its stage, and each step with its due date, status and completion."""
    handle = client.get_workflow_handle_for(SeriousIncidentWorkflow.run, case_id)
    async with temporal_errors(case_id):
        case = await handle.query(SeriousIncidentWorkflow.case)
    return _read(case)


async def _record(client: TemporalClient, case_id: str, record: RecordBase) -> CaseRead:
    handle = client.get_workflow_handle_for(SeriousIncidentWorkflow.run, case_id)
    try:
        async with temporal_errors(case_id):
            case = await handle.execute_update(
                "record", Decision.model_validate({"record": record}), result_type=CaseState
            )
    except ApiError as e:
        if e.problem.status == 404:
            raise await _missing_or_closed(client, case_id) from None
        raise
    return _read(case)


async def _missing_or_closed(client: TemporalClient, case_id: str) -> ApiError:
    """An update to a closed workflow is NOT_FOUND too: tell the two apart."""
    try:
        async with temporal_errors(case_id):
            await client.get_workflow_handle(case_id).describe()
    except ApiError as e:
        return e
    return ApiError(409, "Step not open", f"{case_id}: the case is closed")


def _route(record_type: type[RecordBase]) -> Callable[..., Awaitable[CaseRead]]:
    async def record(case_id: CaseId, body: Any, client: TemporalClient) -> CaseRead:
        return await _record(client, case_id, body)

    record.__annotations__ = {"case_id": CaseId, "body": record_type,
                              "client": TemporalClient, "return": CaseRead}
    record.__doc__ = record_type.__doc__
    return record


for _type in RECORD_TYPES:
    _step = _type.model_fields["step"].default
    router.add_api_route(
        f"/{{case_id}}/{_step.replace('_', '-')}",
        _route(_type),
        methods=["POST"],
        response_model=CaseRead,
        name=f"record_{_step}",
        summary=f"Record {_step.replace('_', ' ')}",
        responses={**_ERRORS, 409: {
            "model": Problem,
            "description": "Step not open at this stage, or already recorded",
        }},
    )

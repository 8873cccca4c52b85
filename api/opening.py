"""Opening a case, a notification's or a request's: one gap-free numbering, one start.

Both routes validate their own body, then hand over here: the case number, the workflow start
(one case per id, ever), the answer once the due dates are set, Idempotency-Key and Location.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from api.auth import Principal
from api.deps import AppSettings, Sessions, TemporalClient
from api.errors import ApiError, store_errors, temporal_errors
from api.idempotency import once
from api.schemas import CaseRead
from domain.calendar import london_date
from domain.case import CaseState, Stage
from domain.procedure import procedure
from store.cases import allocate_case_number
from workflows import search_attributes as sa

_ATTEMPTS = 20


async def open_case(
    *, client: TemporalClient, settings: AppSettings, sessions: Sessions, principal: Principal,
    key: str | None, method_path: str, body: BaseModel, now: datetime, given_id: str | None,
    workflow: str, stage: Stage, input_of: Callable[[str], BaseModel],
) -> CaseRead | JSONResponse:
    """Start a case of `workflow` with `input_of(case_id)`; the answer is the case, 201."""

    async def start() -> CaseRead:
        case_id = await _start_case(client, settings, sessions, given_id, now, workflow, stage,
                                    input_of)
        async with temporal_errors(case_id):
            # Answers once the due dates are set and the case is stored: the reply shows them.
            case = await client.get_workflow_handle(case_id).execute_update(
                "opened", result_type=CaseState)
        return CaseRead.of(case, procedure(case.procedure_version))

    result = await once(sessions, key, principal, method_path, body.model_dump(mode="json"),
                        201, start)
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
    client: TemporalClient, settings: AppSettings, sessions: Sessions, given_id: str | None,
    now: datetime, workflow: str, stage: Stage, input_of: Callable[[str], BaseModel],
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
                        workflow,
                        input_of(case_id),
                        id=case_id,
                        task_queue=settings.task_queue,
                        # One case per id, ever: a second start is refused, not run twice.
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                        search_attributes=TypedSearchAttributes([
                            SearchAttributePair(sa.CASE_ID, case_id),
                            SearchAttributePair(sa.STAGE, stage.value),
                        ]),
                    )
                return case_id
            except ApiError as e:
                # A number already taken by a case entered with its own id: take the next.
                if given_id or e.problem.status != 409:
                    raise
    raise ApiError(503, "Service unavailable", "no free case number; try again",
                   headers={"Retry-After": "1"})

"""Opening a case, a notification's or a request's: one numbering, one start per case.

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
from api.errors import ApiError, invalid, store_errors, temporal_errors
from api.idempotency import once
from api.schemas import CaseRead
from domain.calendar import london_date
from domain.case import CaseState, Stage
from domain.procedure import procedure
from store import idempotency, tenancy
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
        case_id = await _start_case(client, settings, sessions, key, principal, given_id, now,
                                    workflow, stage, input_of)
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
    client: TemporalClient, settings: AppSettings, sessions: Sessions, key: str | None,
    principal: Principal, given_id: str | None, now: datetime, workflow: str, stage: Stage,
    input_of: Callable[[str], BaseModel],
) -> str:
    """Start the case's workflow under a new case number (or the id given for a case opened
    before this service), bound to the request's Idempotency-Key before the start, so that a
    repeat (after a 503, a crash of the API, the worker or Temporal) starts or finds that same
    case. The number is taken in a transaction of its own, committed before Temporal is called:
    no lock is held while Temporal answers (or does not). Numbers are given one at a time and
    a refused request takes none; a start that fails keeps its number for the key's repeat
    (without a key, that number stays unused: a number is one case, ever)."""
    bound = None
    if key is not None:
        async with store_errors(), sessions.begin() as session:
            bound = await idempotency.bound_case(session, key, principal.key_owner)
    if bound is not None:
        try:
            await _start(client, settings, bound, workflow, stage, input_of,
                         principal.partnership, repeat=True)
        except ApiError as e:
            # Started by the first attempt and closed since: the case is still the key's.
            if e.problem.status != 409:
                raise
        return bound
    year = london_date(now).year
    for _ in range(_ATTEMPTS):
        async with store_errors(), sessions.begin() as session:
            case_id = given_id or f"CSPR-{year}-{await allocate_case_number(session, year):04d}"
            if key is not None:
                await idempotency.bind_case(session, key, principal.key_owner, case_id)
            if given_id is None:  # a number of our own: no case holds it yet
                await tenancy.assign(session, case_id, principal.partnership)
            elif not await tenancy.claim(session, case_id, principal.partnership):
                # Another partnership's case under that id: not taken from it.
                raise ApiError(409, "Case already exists",
                               f"{case_id} is already a case; give another id")
        try:
            await _start(client, settings, case_id, workflow, stage, input_of,
                         principal.partnership, repeat=False)
            return case_id
        except ApiError as e:
            # A number already taken by a case entered with its own id: take the next.
            if given_id or e.problem.status != 409:
                raise
    raise ApiError(503, "Service unavailable", "no free case number; try again",
                   headers={"Retry-After": "1"})


async def _start(
    client: TemporalClient, settings: AppSettings, case_id: str, workflow: str, stage: Stage,
    input_of: Callable[[str], BaseModel], partnership: str, *, repeat: bool,
) -> None:
    """Start the workflow; a repeat of the request that bound `case_id` finds the running one."""
    async with temporal_errors(case_id):
        await client.start_workflow(
            workflow,
            input_of(case_id),
            id=case_id,
            task_queue=settings.task_queue,
            # One case per id, ever: a second start is refused, not run twice; only the
            # request that holds the id's key may find the running case.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=(WorkflowIDConflictPolicy.USE_EXISTING if repeat
                                else WorkflowIDConflictPolicy.FAIL),
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa.CASE_ID, case_id),
                SearchAttributePair(sa.STAGE, stage.value),
                SearchAttributePair(sa.PARTNERSHIP, partnership),
            ]),
        )


def check_children(count: int, most: int) -> None:
    """The service's own cap on the children one case names (CSPR_MAX_CHILDREN; the procedure
    sets none): 422 naming `children`, nothing opened."""
    if count > most:
        raise invalid("children", f"at most {most} children (the service's own limit, "
                                  "CSPR_MAX_CHILDREN; the procedure sets none)")

"""The two calls every case route makes to a workflow of the case (the case itself, its LCSPR,
its action plan): read it, falling back to the case store; and record with an Update, telling a
workflow that does not exist from one that has closed (Temporal answers NOT_FOUND to both)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.errors import ApiError, temporal_errors
from api.idempotency import update_id
from store.models import CasePart

State = TypeVar("State", bound=BaseModel)


async def read_part(
    client: Client, session: AsyncSession, case_id: str, workflow_id: str, part: str,
    query: str, state: type[State], missing: ApiError,
) -> State:
    """The running workflow's state; once Temporal has forgotten it (it keeps a closed workflow
    for days), the case store's copy (kept for years); `missing` if neither has it."""
    try:
        async with temporal_errors(case_id):
            found: State = await client.get_workflow_handle(workflow_id).query(
                query, result_type=state)
            return found
    except ApiError as e:
        if e.problem.status != 404:
            raise
    row = await session.get(CasePart, (case_id, part))
    if row is None:
        raise missing
    return state.model_validate(row.snapshot)


async def record_update(
    client: Client, case_id: str, workflow_id: str, decision: Any, state: type[State],
    missing: ApiError, closed: str, update: str = "record",
) -> State:
    """Send the decision as the `record` Update (or another, named); 404 (`missing`) if there
    is no such workflow, 409 (`closed` says what ended) if it has closed."""
    try:
        async with temporal_errors(case_id):
            # The request's Idempotency-Key as the Update id: Temporal gives a repeat the first
            # result, even when the first answer was lost (a 503, a crash of the API).
            result: State = await client.get_workflow_handle(workflow_id).execute_update(
                update, decision, id=update_id(), result_type=state)
            return result
    except ApiError as e:
        if e.problem.status != 404:
            raise
    try:
        async with temporal_errors(case_id):
            await client.get_workflow_handle(workflow_id).describe()
    except ApiError as e:
        raise (missing if e.problem.status == 404 else e) from None
    raise ApiError(409, "Step not open", f"{case_id}: {closed}")

"""The two calls every case route makes to a workflow of the case (the case itself, its LCSPR,
its action plan): read it, from the case store's copy unless that is known to be behind; and
record with an Update, telling a workflow that does not exist from one that has closed
(Temporal answers NOT_FOUND to both)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.errors import ApiError, temporal_errors
from api.idempotency import update_id
from store import owed
from store.models import CasePart

State = TypeVar("State", bound=BaseModel)


async def read_part(
    client: Client, session: AsyncSession, case_id: str, workflow_id: str, part: str,
    query: str, state: type[State], missing: ApiError,
) -> State:
    """The part as the case store holds it: its workflow writes it there before it answers a
    record (issue 13: a query replays a workflow no worker has cached). The workflow is asked
    instead when the store has no copy, or one known to be behind (a projection owed:
    store.owed) or unreadable; once Temporal has forgotten the workflow (it keeps a closed one
    for days), the stored copy is the answer whatever it is; `missing` if neither has it."""
    row = await session.get(CasePart, (case_id, part))
    if row is not None and not await owed.behind(session, case_id, part, row.version):
        stored = stored_copy(state, row.snapshot)
        if stored is not None:
            return stored
    try:
        async with temporal_errors(case_id):
            found: State = await client.get_workflow_handle(workflow_id).query(
                query, result_type=state)
            return found
    except ApiError as e:
        if e.problem.status != 404:
            raise
    if row is None:
        raise missing
    return state.model_validate(row.snapshot)


def stored_copy(state: type[State], snapshot: dict[str, Any]) -> State | None:
    """The stored snapshot as `state`; None if it does not read as one (written by an older
    workflow, or a stand-in's): the workflow is asked."""
    try:
        return state.model_validate(snapshot)
    except ValidationError:
        return None


class WorkflowEnded(ApiError):
    """The case's workflow has ended (409): its stored copy is now its whole record."""


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
    raise WorkflowEnded(409, "Step not open", f"{case_id}: {closed}")

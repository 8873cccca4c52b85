"""A case's other processes (Appendix 3): read them with the suggestions the facts make, record
the facts, and record each process (Workflow Updates, validated first).

PUT, not POST: each replaces the facts, or that kind's record, as a whole, so sending the same
body again changes nothing (no Idempotency-Key needed).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import ValidationError

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import Session, Sessions, TemporalClient, requires
from api.errors import (
    ApiError,
    Problem,
    from_validation,
    not_found,
    store_errors,
    temporal_errors,
)
from api.parallel_schemas import ParallelReviewsRead
from api.schemas import CASE_ID_PATTERN
from api.workflow_calls import record_update
from domain.calendar import WorkingDayCalendar
from domain.case import CaseState
from domain.parallel import (
    CaseFacts,
    FactsDecision,
    ParallelProcess,
    ProcessDecision,
    ProcessKind,
    ProcessRecord,
)
from domain.permissions import (
    PARALLEL_RECORD_ROLES,
    READ_CASE_ROLES,
    can_read_case,
    can_record_parallel,
)
from store import calendar as calendar_store
from store.cases import case_snapshot
from store.db import Sessionmaker

router = APIRouter(prefix="/v1/cases", tags=["parallel reviews"])
CaseId = Annotated[str, Path(pattern=CASE_ID_PATTERN, examples=["CSPR-2026-7KQ2MX"])]
Kind = Annotated[ProcessKind, Path(description="The kind of process")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case"},
    503: {"model": Problem, "description": "Temporal cannot be reached"},
}
_RECORD_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    409: {"model": Problem, "description": "The case is closed, or still opening"},
}
Reader = Annotated[Principal, Depends(requires(can_read_case, "read a case"))]
Recorder = Annotated[Principal, Depends(requires(can_record_parallel,
                                                 "record a case's other processes"))]
# The YJB's one working day is counted here, on today's calendar with the operators' bank
# holiday changes: a workflow may not look it up.
_BASE = WorkingDayCalendar()


async def _calendar(sessions: Sessionmaker) -> WorkingDayCalendar:
    async with store_errors(), sessions() as session:
        return await calendar_store.effective_calendar(session, _BASE)


async def _case(client: TemporalClient, session: Session, case_id: str) -> CaseState:
    try:
        async with temporal_errors(case_id):
            found: CaseState = await client.get_workflow_handle(case_id).query(
                "case", result_type=CaseState)
            return found
    except ApiError as e:
        # Temporal keeps a closed case for days; the case store keeps it for years.
        if e.problem.status != 404:
            raise
        snapshot = await case_snapshot(session, case_id)
        if snapshot is None:
            raise
        return CaseState.model_validate(snapshot)


async def _update(client: TemporalClient, sessions: Sessionmaker, case_id: str, update: str,
                  decision: FactsDecision | ProcessDecision) -> ParallelReviewsRead:
    case = await record_update(client, case_id, case_id, decision, CaseState,
                               not_found(case_id), "the case is closed", update=update)
    return ParallelReviewsRead.of(case, await _calendar(sessions))


@router.get(
    "/{case_id}/parallel-reviews", response_model=ParallelReviewsRead, responses=_ERRORS,
    description="The case's other processes (Appendix 3): the facts recorded, each process "
    "with its lead, the liaison agreed and whether the reviews are joint or parallel, and the "
    "processes the facts suggest may apply, each with the rule it meets (a YJB notification "
    "with its due date: one working day after the YJS became aware).\n\n"
    + who_may(READ_CASE_ROLES),
)
async def get_parallel_reviews(
    case_id: CaseId, client: TemporalClient, session: Session, sessions: Sessions, _: Reader
) -> ParallelReviewsRead:
    """A case's other processes and the suggestions, for the roles that read cases."""
    case = await _case(client, session, case_id)
    return ParallelReviewsRead.of(case, await _calendar(sessions))


@router.put(
    "/{case_id}/parallel-reviews/facts", response_model=ParallelReviewsRead,
    responses=_RECORD_ERRORS,
    description=f"{CaseFacts.__doc__}\n\n{who_may(PARALLEL_RECORD_ROLES)}",
)
async def record_facts(
    case_id: CaseId, body: CaseFacts, client: TemporalClient, sessions: Sessions,
    principal: Recorder,
) -> ParallelReviewsRead:
    """Record the facts that suggest which other processes may apply."""
    decision = FactsDecision(record=body, actor=principal.actor())
    return await _update(client, sessions, case_id, "record_facts", decision)


@router.put(
    "/{case_id}/parallel-reviews/{kind}", response_model=ParallelReviewsRead,
    responses=_RECORD_ERRORS,
    description=f"{ProcessRecord.__doc__} Replaces the kind's last record.\n\n"
    + who_may(PARALLEL_RECORD_ROLES),
)
async def record_parallel_process(
    case_id: CaseId, kind: Kind, body: ProcessRecord, client: TemporalClient,
    sessions: Sessions, principal: Recorder,
) -> ParallelReviewsRead:
    """Record one other process running alongside the review."""
    try:
        process = ParallelProcess(kind=kind, **body.model_dump())
    except ValidationError as e:
        raise from_validation(e) from None
    decision = ProcessDecision(record=process, actor=principal.actor())
    return await _update(client, sessions, case_id, "record_parallel_process", decision)

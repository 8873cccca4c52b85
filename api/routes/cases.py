"""A case: read it, and record each step's decision (a Workflow Update, validated first).

One route per step, for either kind of case: a notification's (Flowcharts 1 and 2) or a
request's (Flowchart 4, which has the first three steps). The case refuses a step it does not
have, as it refuses one not open at its stage (409).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import AUTH_RESPONSES, Principal, forbidden, who_may
from api.deps import Session, Sessions, TemporalClient, requires
from api.errors import (
    READ_TIMEOUT,
    ApiError,
    Problem,
    not_found,
    store_errors,
    temporal_errors,
)
from api.idempotency import IdempotencyKey, once
from api.schemas import CASE_ID_PATTERN, CaseRead, RecordReceipt, part_summaries
from api.workflow_calls import record_update
from domain.case import CaseState, Stage
from domain.decisions import RECORD_TYPES, Decision, RecordBase
from domain.permissions import (
    ORG_RULE_TEXT,
    READ_CASE_ROLES,
    Role,
    can_read_case,
    can_record,
    can_record_step,
    recorders,
)
from domain.procedure import Step, procedure
from store.cases import case_parts, case_snapshot, case_stage
from store.db import Sessionmaker

router = APIRouter(prefix="/v1/cases", tags=["cases"])
CaseId = Annotated[str, Path(pattern=CASE_ID_PATTERN, examples=["CSPR-2026-7KQ2MX"])]
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case"},
    503: {"model": Problem, "description": "Temporal cannot be reached"},
}
Reader = Annotated[Principal, Depends(requires(can_read_case, "read a case"))]


async def read_case(session: AsyncSession, case: CaseState) -> CaseRead:
    """The case with its child workflows' state, as they last projected it to the store."""
    parts = (await case_parts(session, [case.case_id]))[case.case_id]
    return CaseRead.of(case, procedure(case.procedure_version),
                       part_summaries(case.case_id, parts))


@router.get(
    "/{case_id}", response_model=CaseRead, responses=_ERRORS,
    description="The case, a notification's or a request's: its stage, each step with its due "
    "date, status and completion, and its LCSPR and action plan once they run (stage, next "
    "deadline, overdue)."
    f"\n\n{who_may(READ_CASE_ROLES)} Agencies may not read a case for now (403): a case "
    "holds the partners' and the other agencies' records.",
)
async def get_case(
    case_id: CaseId, client: TemporalClient, session: Session, _: Reader
) -> CaseRead:
    """One case, for the roles in `READ_CASE_ROLES`."""
    case, stored = await case_state(client, session, case_id)
    read = await read_case(session, case)
    return read.model_copy(update={"source": "store"}) if stored else read


async def case_state(client: TemporalClient, session: AsyncSession, case_id: str
                     ) -> tuple[CaseState, bool]:
    """The case's state from its workflow, or as the case store last holds it (and True) once
    Temporal has forgotten it or when it does not answer; 404 if neither has it (the API's read
    and the workspace's case page). A case the store holds as closed is read from the store
    without asking its workflow: its record is final (and rectified or anonymised there only),
    and a query of a closed workflow replays its whole history (issue 13)."""
    if await case_stage(session, case_id) == Stage.CLOSED.value:
        closed = await case_snapshot(session, case_id)
        if closed is not None:
            return CaseState.model_validate(closed), True
    handle = client.get_workflow_handle(case_id)
    try:
        async with temporal_errors(case_id, within=READ_TIMEOUT):
            found: CaseState = await handle.query("case", result_type=CaseState)
            return found, False
    except ApiError as e:
        # Temporal keeps a closed case for days, the case store for years; a case that does not
        # answer (its worker down, Temporal down) is shown as last stored, and said to be.
        if e.problem.status not in (404, 503):
            raise
        snapshot = await case_snapshot(session, case_id)
        if snapshot is None:
            raise
        return CaseState.model_validate(snapshot), True


async def record_as(
    client: TemporalClient, sessions: Sessionmaker, case_id: str, record: RecordBase,
    principal: Principal, update: str = "record",
) -> CaseRead:
    """Send a step's record as the principal (by the `record` update, or another taking the
    same message), once the record's organisation rules allow it; the case as stored after."""
    case = await _send(client, case_id, record, principal, update)
    async with store_errors(), sessions() as session:
        return await read_case(session, case)


async def _send(client: TemporalClient, case_id: str, record: RecordBase, principal: Principal,
                update: str = "record") -> CaseState:
    """The record sent as the principal's, once its organisation rules allow it."""
    decision = Decision.model_validate({"record": record, "actor": principal.actor()})
    # The organisation rules need the record: the DSP's own partner, the agency's own report.
    if (refusal := can_record(principal.role, principal.organisation, decision.record)) is not None:
        raise forbidden(refusal)
    return await record_update(client, case_id, case_id, decision, CaseState,
                               not_found(case_id), "the case is closed", update=update)


async def record_shaped(
    client: TemporalClient, sessions: Sessionmaker, case_id: str, record: RecordBase,
    principal: Principal,
) -> CaseRead | RecordReceipt:
    """The case after the record for a role that reads cases; for one that does not (an
    agency returning its report), its own record only (issue 9, item 9)."""
    if can_read_case(principal.role):
        return await record_as(client, sessions, case_id, record, principal)
    case = await _send(client, case_id, record, principal)
    return RecordReceipt.of(case, Step(record.model_dump()["step"]), principal.organisation)


async def record_step(
    client: TemporalClient, sessions: Sessionmaker, case_id: str, record: RecordBase,
    principal: Principal, key: str | None,
) -> CaseRead | JSONResponse:
    """Record a step once per Idempotency-Key, the case after it: the workspace's form (which
    shows an agency no case: it goes back to My work). The API's route shapes the answer by
    role (`record_shaped`)."""
    step = Step(type(record).model_fields["step"].default)
    return await once(
        sessions, key, principal, f"POST /v1/cases/{case_id}/{step.value}",
        record.model_dump(mode="json"), 200,
        lambda: record_as(client, sessions, case_id, record, principal))


def _route(
    record_type: type[RecordBase], step: Step
) -> Callable[..., Awaitable[CaseRead | RecordReceipt | JSONResponse]]:
    async def record(case_id: CaseId, body: Any, client: TemporalClient, sessions: Sessions,
                     principal: Any, key: IdempotencyKey = None
                     ) -> CaseRead | RecordReceipt | JSONResponse:
        return await once(
            sessions, key, principal, f"POST /v1/cases/{case_id}/{step.value}",
            body.model_dump(mode="json"), 200,
            lambda: record_shaped(client, sessions, case_id, body, principal))

    def may_record(role: Role) -> bool:
        return can_record_step(role, step)

    recorder = Annotated[Principal, Depends(requires(may_record, f"record {step.value}"))]
    record.__annotations__ = {"case_id": CaseId, "body": record_type, "client": TemporalClient,
                              "sessions": Sessions, "principal": recorder,
                              "key": IdempotencyKey,
                              "return": CaseRead | RecordReceipt | JSONResponse}
    return record


def _description(record_type: type[RecordBase], step: Step) -> str:
    rules = recorders(step)
    notes = {role: ORG_RULE_TEXT[rule] for role, rule in rules.items()}
    answer = ""
    if not all(can_read_case(role) for role in rules):
        answer = ("\n\nThe answer is the case for a role that reads cases; for one that does "
                  "not (an agency), its own record with the case id and stage.")
    return f"{record_type.__doc__}\n\n{who_may(rules, notes)}{answer}"


def _answer(step: Step) -> Any:
    """The route's response model: a receipt too where a recorder may not read the case."""
    if all(can_read_case(role) for role in recorders(step)):
        return CaseRead
    return CaseRead | RecordReceipt


for _type in RECORD_TYPES:
    _step = Step(_type.model_fields["step"].default)
    router.add_api_route(
        f"/{{case_id}}/{_step.replace('_', '-')}",
        _route(_type, _step),
        methods=["POST"],
        response_model=_answer(_step),
        name=f"record_{_step}",
        summary=f"Record {_step.replace('_', ' ')}",
        description=_description(_type, _step),
        responses={**_ERRORS, 409: {
            "model": Problem,
            "description": "Step not open at this stage, already recorded, or not a step of "
                           "this kind of case (a request has the first three)",
        }},
    )

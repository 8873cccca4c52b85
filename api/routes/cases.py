"""A case: read it, and record each step's decision (a Workflow Update, validated first).

One route per step, for either kind of case: a notification's (Flowcharts 1 and 2) or a
request's (Flowchart 4, which has the first three steps). The case refuses a step it does not
have, as it refuses one not open at its stage (409).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import AUTH_RESPONSES, Principal, forbidden, who_may
from api.deps import Session, Sessions, TemporalClient, requires
from api.errors import (
    READ_TIMEOUT,
    ApiError,
    Problem,
    invalid,
    not_found,
    store_errors,
    temporal_errors,
)
from api.idempotency import IdempotencyKey, once
from api.schemas import CASE_ID_PATTERN, CaseRead, RecordReceipt, Source, part_summaries
from api.workflow_calls import record_update, stored_copy
from domain.case import CaseState, Stage
from domain.case_file import UPLOAD_PREFIX, FileKind, agency_report_prefix
from domain.decisions import RECORD_TYPES, AgencyReport, Decision, RecordBase
from domain.permissions import (
    ORG_RULE_TEXT,
    READ_CASE_ROLES,
    Refusal,
    Role,
    can_read_case,
    can_record,
    can_record_step,
    recorders,
)
from domain.procedure import Step, procedure
from store import owed
from store.cases import case_parts
from store.db import Sessionmaker
from store.documents import get_document
from store.models import Case

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
    found = await case_state(client, session, case_id)
    read = await read_case(session, found.state)
    return read.model_copy(update={"source": found.source})


class FoundCase(NamedTuple):
    """A case as read: its state, where from ("store", "workflow"), and whether that is a
    stored copy known to be behind which the workflow could not replace (it did not answer)."""

    state: CaseState
    source: Source
    behind: bool = False


async def case_state(client: TemporalClient, session: AsyncSession, case_id: str) -> FoundCase:
    """The case as the case store holds it, or from its workflow when the store's copy is
    known to be behind; 404 if neither has it (the API's read and the workspace's case page).

    The workflow writes its copy to the store before it answers a record (issue 13: a query
    replays a workflow no worker has cached, 0.85 s for a long one), so the stored copy is the
    answer, open or closed. The workflow is asked when the store has no copy yet, or one
    known to be behind: a projection the store did not take (down, or refusing the value:
    store.owed) until the workflow writes it again. If the workflow then does not answer (its
    worker or Temporal down, or Temporal has forgotten it), the stored copy is shown, and said
    to be behind. A closed case's stored record is final (rectified or anonymised there)."""
    row = await session.get(Case, case_id)
    if row is not None:
        behind = row.stage != Stage.CLOSED.value and await owed.behind(
            session, case_id, owed.CASE, row.version)
        stored = stored_copy(CaseState, row.snapshot)
        if stored is not None and not behind:
            return FoundCase(stored, "store")
    handle = client.get_workflow_handle(case_id)
    try:
        async with temporal_errors(case_id, within=READ_TIMEOUT):
            found: CaseState = await handle.query("case", result_type=CaseState)
            return FoundCase(found, "workflow")
    except ApiError as e:
        if e.problem.status not in (404, 503) or row is None:
            raise
        return FoundCase(CaseState.model_validate(row.snapshot), "store", behind=True)


async def record_as(
    client: TemporalClient, sessions: Sessionmaker, case_id: str, record: RecordBase,
    principal: Principal, update: str = "record",
) -> CaseRead:
    """Send a step's record as the principal (by the `record` update, or another taking the
    same message), once the record's organisation rules allow it; the case as stored after."""
    await _check_report_document(sessions, case_id, record, principal)
    case = await _send(client, case_id, record, principal, update)
    async with store_errors(), sessions() as session:
        return await read_case(session, case)


async def case_update_once(
    client: TemporalClient, sessions: Sessionmaker, case_id: str, key: str | None,
    principal: Principal, route: str, body: BaseModel, message: BaseModel, update: str,
) -> CaseRead | JSONResponse:
    """Send `message` by the case's `update` once per Idempotency-Key (the route `route`, the
    request's `body`); the case as stored after: an amendment's, a withdrawal's."""

    async def send() -> CaseRead:
        case = await record_update(client, case_id, case_id, message, CaseState,
                                   not_found(case_id), "the case is closed", update=update)
        async with store_errors(), sessions() as session:
            return await read_case(session, case)

    return await once(sessions, key, principal, f"POST /v1/cases/{case_id}/{route}",
                      body.model_dump(mode="json"), 200, send)


async def _check_report_document(sessions: Sessionmaker, case_id: str, record: RecordBase,
                                 principal: Principal) -> None:
    """An agency's record may carry its report from the case file: one of this case's
    `agency_report` documents (422 naming `document_id` if not), the agency's own (403)."""
    if not isinstance(record, AgencyReport) or record.document_id is None:
        return
    async with store_errors(), sessions() as session:
        document = await get_document(session, case_id, record.document_id)
    if document is None or document.kind != UPLOAD_PREFIX + FileKind.AGENCY_REPORT.value:
        raise invalid("document_id", "is not an agency report (kind agency_report) in this "
                      "case's file")
    if principal.role is Role.AGENCY and \
            not document.key.startswith(agency_report_prefix(principal.organisation)):
        raise forbidden(Refusal("an agency's record carries its own report only",
                                "document_id"))


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
    await _check_report_document(sessions, case_id, record, principal)
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

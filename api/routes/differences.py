"""A case's differences of opinion: read them, raise one, escalate it, record its resolution.

Procedure, "Differences of opinion": first with the SSLs and the Children's MARS team, then the
safeguarding partners, then mediation by an Independent Scrutiny Officer. Each change is a
Workflow Update of the case, validated before it enters history.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_RESPONSES, Principal, forbidden, who_may
from api.deps import AppSettings, Session, Sessions, TemporalClient, requires
from api.errors import ApiError, Problem, not_found, temporal_errors
from api.idempotency import IdempotencyKey, once, update_id
from api.schemas import CASE_ID_PATTERN
from domain.case import CaseState
from domain.decisions import DecisionMessage
from domain.differences import Difference, DifferenceTargets, Subject, TargetDays
from domain.notification import PastDate, Text
from domain.permissions import (
    DIFFERENCE_MANAGE_ROLES,
    DIFFERENCE_RAISE_ROLES,
    READ_CASE_ROLES,
    Refusal,
    Role,
    can_manage_difference,
    can_raise_difference,
    can_read_case,
)
from domain.procedure import Step
from store.cases import case_snapshot

router = APIRouter(prefix="/v1/cases", tags=["differences of opinion"])
CaseId = Annotated[str, Path(pattern=CASE_ID_PATTERN, examples=["CSPR-2026-7KQ2MX"])]
DifferenceIdPath = Annotated[str, Path(pattern=r"^DOO-[1-9][0-9]{0,3}$", examples=["DOO-1"])]
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case, or no such difference of opinion"},
    409: {"model": Problem, "description": "The case is closed, the difference is resolved, "
                                           "or it is already at the last level"},
    503: {"model": Problem, "description": "Temporal cannot be reached"},
}
Reader = Annotated[Principal, Depends(requires(can_read_case, "read a case"))]
Raiser = Annotated[Principal, Depends(requires(can_raise_difference,
                                               "raise a difference of opinion"))]
Manager = Annotated[Principal, Depends(requires(can_manage_difference,
                                                "escalate or resolve a difference of opinion"))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetDaysIn(_Body):
    """Working days for any level, in place of the service's (CSPR_DIFFERENCE_TARGET_DAYS)."""

    ssl_and_mars: TargetDays | None = None
    safeguarding_partners: TargetDays | None = None
    independent_scrutiny: TargetDays | None = None


class DifferenceRaise(_Body):
    """A difference of opinion, raised by the representative of the organisation that holds it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "subject": "criteria", "summary": "Police consider the threshold of serious harm met"}]})

    subject: Subject = Field(description="criteria (whether the case meets them), "
                                         "whether_to_review, or process (any part of it)")
    summary: Text
    target_working_days: TargetDaysIn | None = None


class DifferenceEscalation(_Body):
    """Refer the difference to the next level: why it remains unresolved."""

    reason: Text


class DifferenceResolution(_Body):
    """How the difference was resolved, at its current level."""

    outcome: Text
    resolved_on: PastDate | None = Field(
        None, description="The date it was resolved, if not today; never in the future")


class DifferencesRead(BaseModel):
    case_id: str
    differences: list[Difference]


@router.get(
    "/{case_id}/differences-of-opinion", response_model=DifferencesRead, responses=_ERRORS,
    description="The case's differences of opinion: each one's level on the escalation "
    "ladder, the current level's target date, its history and its resolution.\n\n"
    + who_may(READ_CASE_ROLES),
)
async def get_differences(
    case_id: CaseId, client: TemporalClient, session: Session, _: Reader
) -> DifferencesRead:
    """A case's differences of opinion."""
    try:
        async with temporal_errors(case_id):
            case = await client.get_workflow_handle(case_id).query("case", result_type=CaseState)
    except ApiError as e:
        # Temporal keeps a closed case for days; the case store keeps it for years.
        if e.problem.status != 404:
            raise
        snapshot = await case_snapshot(session, case_id)
        if snapshot is None:
            raise
        case = CaseState.model_validate(snapshot)
    return DifferencesRead(case_id=case.case_id, differences=case.differences.items)


async def _update(client: TemporalClient, case_id: str, update: str, record: dict[str, Any],
                  principal: Principal) -> Difference:
    message = DecisionMessage(record=record, actor=principal.actor().model_dump(mode="json"))
    handle = client.get_workflow_handle(case_id)
    try:
        async with temporal_errors(case_id):
            result: Difference = await handle.execute_update(
                update, message, id=update_id(), result_type=Difference)
            return result
    except ApiError as e:
        if e.problem.status != 404 or e.problem.title != "Case not found":
            raise
    # Temporal answers NOT_FOUND both for no such case and for a closed one.
    try:
        async with temporal_errors(case_id):
            await handle.describe()
    except ApiError as e:
        raise (not_found(case_id) if e.problem.status == 404 else e) from None
    raise ApiError(409, "Difference of opinion not open", f"{case_id}: the case is closed")


async def _agency_involved(client: TemporalClient, case_id: str, principal: Principal) -> None:
    """An agency raises one only on a case it was asked to report on ("the organisation's
    representative(s), who holds the difference of opinion"); it cannot tell such a case from
    one that does not exist (403 either way), as it cannot read cases."""
    if principal.role is not Role.AGENCY:
        return
    refusal = Refusal("an agency raises a difference of opinion only on a case it was asked "
                      "to report on", "org")
    try:
        async with temporal_errors(case_id):
            case = await client.get_workflow_handle(case_id).query("case", result_type=CaseState)
    except ApiError as e:
        if e.problem.status == 404:
            raise forbidden(refusal) from None
        raise
    asked = (case.step(Step.AGENCY_REPORTS).expected_parties
             if case.has_step(Step.AGENCY_REPORTS) else [])
    if (principal.organisation or "").casefold() not in {a.casefold() for a in asked}:
        raise forbidden(refusal)


@router.post(
    "/{case_id}/differences-of-opinion", response_model=Difference, status_code=201,
    responses=_ERRORS,
    description="Raise a difference of opinion about whether the case meets the criteria, "
    "whether to review, or any part of the process. It starts with the SSLs and the MARS team; "
    "each level has a target in working days (the service's, unless given) and escalates when "
    "it passes. The targets and the referral when one passes are the service's own rules, not "
    "the procedure's (which has the SSLs refer an unresolved difference to the partners): "
    "with CSPR_DIFFERENCE_AUTO_REFER=false a passed target leaves it at its level, overdue, "
    "for a person to escalate.\n\n" + who_may(DIFFERENCE_RAISE_ROLES),
)
async def raise_difference(
    case_id: CaseId, body: DifferenceRaise, client: TemporalClient, sessions: Sessions,
    settings: AppSettings, principal: Raiser, key: IdempotencyKey = None,
) -> Difference | JSONResponse:
    """Raise a difference of opinion."""
    await _agency_involved(client, case_id, principal)
    given = body.target_working_days.model_dump(exclude_none=True) \
        if body.target_working_days else {}
    targets = DifferenceTargets(**{**settings.difference_targets.model_dump(), **given})
    record = {"subject": body.subject.value, "summary": body.summary,
              "targets": targets.model_dump()}
    return await once(sessions, key, principal, f"POST /v1/cases/{case_id}/differences-of-opinion",
                      body.model_dump(mode="json"), 201,
                      lambda: _update(client, case_id, "raise_difference", record, principal))


@router.post(
    "/{case_id}/differences-of-opinion/{difference_id}/escalations", response_model=Difference,
    responses=_ERRORS,
    description="Refer an unresolved difference to the next level: from the SSLs and MARS "
    "team to the safeguarding partners, from them to an Independent Scrutiny Officer's "
    "mediation.\n\n" + who_may(DIFFERENCE_MANAGE_ROLES),
)
async def escalate_difference(
    case_id: CaseId, difference_id: DifferenceIdPath, body: DifferenceEscalation,
    client: TemporalClient, sessions: Sessions, principal: Manager,
    key: IdempotencyKey = None,
) -> Difference | JSONResponse:
    """Escalate a difference of opinion."""
    record = {"difference_id": difference_id, "reason": body.reason}
    return await once(
        sessions, key, principal,
        f"POST /v1/cases/{case_id}/differences-of-opinion/{difference_id}/escalations",
        body.model_dump(mode="json"), 200,
        lambda: _update(client, case_id, "escalate_difference", record, principal))


@router.post(
    "/{case_id}/differences-of-opinion/{difference_id}/resolution", response_model=Difference,
    responses=_ERRORS,
    description="Record how a difference of opinion was resolved, at its current level.\n\n"
    + who_may(DIFFERENCE_MANAGE_ROLES),
)
async def resolve_difference(
    case_id: CaseId, difference_id: DifferenceIdPath, body: DifferenceResolution,
    client: TemporalClient, sessions: Sessions, principal: Manager,
    key: IdempotencyKey = None,
) -> Difference | JSONResponse:
    """Record a difference of opinion's resolution."""
    record = {"difference_id": difference_id, "outcome": body.outcome,
              "resolved_on": body.resolved_on.isoformat() if body.resolved_on else None}
    return await once(
        sessions, key, principal,
        f"POST /v1/cases/{case_id}/differences-of-opinion/{difference_id}/resolution",
        body.model_dump(mode="json"), 200,
        lambda: _update(client, case_id, "resolve_difference", record, principal))

"""A case's action plan: read it, and make each of its records (a Workflow Update, validated
first).

The plan runs as its own workflow, `ids.action_plan_id(case_id)`; the LCSPR starts it when the
partners endorse the final report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from api.action_plan_schemas import ActionPlanRead
from api.auth import AUTH_RESPONSES, Principal, forbidden, who_may
from api.deps import Session, Sessions, TemporalClient, requires
from api.errors import ApiError, Problem, store_errors
from api.idempotency import IdempotencyKey, once
from api.schemas import CASE_ID_PATTERN
from api.workflow_calls import read_part, record_update
from domain.action_plan import ActionPlanState
from domain.action_plan_records import PLAN_RECORD_TYPES, PlanDecision, PlanStep
from domain.decisions import RecordBase
from domain.permissions import (
    LEGACY_SIGNOFF_ROLES,
    PLAN_ORG_TEXT,
    PLAN_RECORD_ROLES,
    PLAN_RUNNING_GROUP,
    READ_CASE_ROLES,
    Role,
    can_read_case,
    can_record_plan,
    can_record_plan_record,
)
from store.db import Sessionmaker
from workflows.action_plan import PART
from workflows.ids import action_plan_id

router = APIRouter(prefix="/v1/cases", tags=["action plan"])
CaseId = Annotated[str, Path(pattern=CASE_ID_PATTERN, examples=["CSPR-2026-7KQ2MX"])]
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case, or no action plan for it"},
    503: {"model": Problem, "description": "Temporal cannot be reached"},
}
Reader = Annotated[Principal, Depends(requires(can_read_case, "read a case"))]


def _no_plan(case_id: str) -> ApiError:
    return ApiError(404, "Action plan not found", f"no action plan for {case_id}")


@router.get(
    "/{case_id}/action-plan", response_model=ActionPlanRead, responses=_ERRORS,
    description="The case's action plan: each action with its owner, due date and status, the "
    "reviews held and the next one due, who oversees it, scrutiny audits, and the sign-off."
    "\n\n" + who_may(READ_CASE_ROLES),
)
async def get_action_plan(
    case_id: CaseId, client: TemporalClient, session: Session, _: Reader
) -> ActionPlanRead:
    """A case's action plan, for the roles that read cases."""
    plan = await read_part(client, session, case_id, action_plan_id(case_id), PART, "plan",
                           ActionPlanState, _no_plan(case_id))
    return ActionPlanRead.of(plan)


async def _record(
    client: TemporalClient, sessions: Sessionmaker, case_id: str, record: RecordBase,
    principal: Principal,
) -> ActionPlanRead:
    decision = PlanDecision.model_validate({"record": record, "actor": principal.actor()})
    role, organisation = principal.role, principal.organisation
    refusal = can_record_plan_record(role, organisation, decision.record)
    if decision.record.step == PlanStep.BOARD_SIGNOFF.value and (
            refusal is None or role in LEGACY_SIGNOFF_ROLES) and \
            not await _partners_sign(client, sessions, case_id):
        # A plan started before "plan-partners" is signed off as then: by the board role.
        refusal = can_record_plan_record(role, organisation, decision.record,
                                         partners_sign=False)
    if refusal is not None:
        raise forbidden(refusal)
    plan = await record_update(client, case_id, action_plan_id(case_id), decision,
                               ActionPlanState, _no_plan(case_id), "the action plan is signed off")
    return ActionPlanRead.of(plan)


async def _partners_sign(client: TemporalClient, sessions: Sessionmaker, case_id: str) -> bool:
    """Whether the case's plan is signed off by each partner (since "plan-partners"); True
    if there is no plan (the record then answers 404 from the case)."""
    try:
        async with store_errors(), sessions() as session:
            plan = await read_part(client, session, case_id, action_plan_id(case_id), PART,
                                   "plan", ActionPlanState, _no_plan(case_id))
    except ApiError as e:
        if e.problem.status != 404:
            raise
        return True
    return plan.partners_sign


async def record_plan_step(
    client: TemporalClient, sessions: Sessionmaker, case_id: str, record: RecordBase,
    principal: Principal, key: str | None,
) -> ActionPlanRead | JSONResponse:
    """Make an action-plan record once per Idempotency-Key: the API's route and the workspace's
    form (the route has checked the role; the form checks it the same way)."""
    step = PlanStep(type(record).model_fields["step"].default)
    path = f"action-plan/{step.value.replace('_', '-')}"
    return await once(
        sessions, key, principal, f"POST /v1/cases/{case_id}/{path}",
        record.model_dump(mode="json"), 200,
        lambda: _record(client, sessions, case_id, record, principal))


def _route(
    record_type: type[RecordBase], step: PlanStep
) -> Callable[..., Awaitable[ActionPlanRead | JSONResponse]]:
    async def record(case_id: CaseId, body: Any, client: TemporalClient, sessions: Sessions,
                     principal: Any, key: IdempotencyKey = None) -> ActionPlanRead | JSONResponse:
        return await record_plan_step(client, sessions, case_id, body, principal, key)

    def may_record(role: Role) -> bool:
        # The group that runs the plan reaches the sign-off's route to hear why it may not.
        return can_record_plan(role, step) is None or (
            step is PlanStep.BOARD_SIGNOFF and role in PLAN_RUNNING_GROUP)

    recorder = Annotated[Principal, Depends(requires(may_record, f"record {step.value}"))]
    record.__annotations__ = {"case_id": CaseId, "body": record_type, "client": TemporalClient,
                              "sessions": Sessions, "principal": recorder,
                              "key": IdempotencyKey, "return": ActionPlanRead | JSONResponse}
    return record


for _type in PLAN_RECORD_TYPES:
    _step = PlanStep(_type.model_fields["step"].default)
    router.add_api_route(
        f"/{{case_id}}/action-plan/{_step.replace('_', '-')}",
        _route(_type, _step),
        methods=["POST"],
        response_model=ActionPlanRead,
        name=f"record_action_plan_{_step}",
        summary=f"Record {_step.replace('_', ' ')} (action plan)",
        description=f"{_type.__doc__}\n\n"
        + who_may(PLAN_RECORD_ROLES[_step], dict(PLAN_ORG_TEXT.get(_step, {}))),
        responses={**_ERRORS, 409: {
            "model": Problem,
            "description": "Not open now (an action already completed or closed, an audit "
                           "already requested, sign-off with actions open or no action "
                           "addressing inequalities nor a reason why none applies, a partner "
                           "that has already signed or agreed), or the plan is signed off",
        }},
    )

"""A case's LCSPR: read it, and record each of its steps (a Workflow Update, validated first).

The review runs as its own workflow, `ids.local_review_id(case_id)`; the case starts it when
the rapid review's outcome is a local review, or when the partners agree to a request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from api.auth import AUTH_RESPONSES, Principal, forbidden, who_may
from api.deps import Session, Sessions, TemporalClient, requires
from api.errors import ApiError, Problem
from api.idempotency import IdempotencyKey, once
from api.local_review_schemas import LocalReviewRead
from api.schemas import CASE_ID_PATTERN
from api.workflow_calls import read_part, record_update
from domain.decisions import RecordBase
from domain.local_review import LocalReviewState
from domain.local_review_records import REVIEW_RECORD_TYPES, LocalReviewStep, ReviewDecision
from domain.permissions import (
    ORG_RULE_TEXT,
    READ_CASE_ROLES,
    REVIEW_RECORD_RULES,
    Role,
    can_read_case,
    can_record_review,
    can_record_review_step,
)
from store.db import Sessionmaker
from workflows.ids import local_review_id
from workflows.local_review import PART

router = APIRouter(prefix="/v1/cases", tags=["local review"])
CaseId = Annotated[str, Path(pattern=CASE_ID_PATTERN, examples=["CSPR-2026-7KQ2MX"])]
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case, or no local review for it"},
    503: {"model": Problem, "description": "Temporal cannot be reached"},
}
Reader = Annotated[Principal, Depends(requires(can_read_case, "read a case"))]


def _no_review(case_id: str) -> ApiError:
    return ApiError(404, "Local review not found", f"no local review for {case_id}")


@router.get(
    "/{case_id}/local-review", response_model=LocalReviewRead, responses=_ERRORS,
    description="The case's LCSPR: its stage, each task with its due date (statutory or "
    "local) and status, and its publication dates.\n\n" + who_may(READ_CASE_ROLES),
)
async def get_local_review(
    case_id: CaseId, client: TemporalClient, session: Session, _: Reader
) -> LocalReviewRead:
    """A case's LCSPR, for the roles that read cases."""
    review = await read_part(client, session, case_id, local_review_id(case_id), PART,
                             "review", LocalReviewState, _no_review(case_id))
    return LocalReviewRead.of(review)


async def _record(
    client: TemporalClient, case_id: str, record: RecordBase, principal: Principal
) -> LocalReviewRead:
    decision = ReviewDecision.model_validate({"record": record, "actor": principal.actor()})
    refusal = can_record_review(principal.role, principal.organisation, decision.record)
    if refusal is not None:
        raise forbidden(refusal)
    review = await record_update(client, case_id, local_review_id(case_id), decision,
                                 LocalReviewState, _no_review(case_id),
                                 "the local review is complete")
    return LocalReviewRead.of(review)


async def record_review_step(
    client: TemporalClient, sessions: Sessionmaker, case_id: str, record: RecordBase,
    principal: Principal, key: str | None,
) -> LocalReviewRead | JSONResponse:
    """Record an LCSPR step once per Idempotency-Key: the API's route and the workspace's form."""
    step = LocalReviewStep(type(record).model_fields["step"].default)
    path = f"local-review/{step.value.replace('_', '-')}"
    return await once(
        sessions, key, principal, f"POST /v1/cases/{case_id}/{path}",
        record.model_dump(mode="json"), 200,
        lambda: _record(client, case_id, record, principal))


def _route(
    record_type: type[RecordBase], step: LocalReviewStep
) -> Callable[..., Awaitable[LocalReviewRead | JSONResponse]]:
    async def record(case_id: CaseId, body: Any, client: TemporalClient, sessions: Sessions,
                     principal: Any, key: IdempotencyKey = None) -> LocalReviewRead | JSONResponse:
        return await record_review_step(client, sessions, case_id, body, principal, key)

    def may_record(role: Role) -> bool:
        return can_record_review_step(role, step)

    recorder = Annotated[Principal, Depends(requires(may_record, f"record {step.value}"))]
    record.__annotations__ = {"case_id": CaseId, "body": record_type, "client": TemporalClient,
                              "sessions": Sessions, "principal": recorder,
                              "key": IdempotencyKey, "return": LocalReviewRead | JSONResponse}
    return record


for _type in REVIEW_RECORD_TYPES:
    _step = LocalReviewStep(_type.model_fields["step"].default)
    _rules = REVIEW_RECORD_RULES[_step]
    router.add_api_route(
        f"/{{case_id}}/local-review/{_step.replace('_', '-')}",
        _route(_type, _step),
        methods=["POST"],
        response_model=LocalReviewRead,
        name=f"record_local_review_{_step}",
        summary=f"Record {_step.replace('_', ' ')} (LCSPR)",
        description=f"{_type.__doc__}\n\n"
        + who_may(_rules, {role: ORG_RULE_TEXT[rule] for role, rule in _rules.items()}),
        responses={**_ERRORS, 409: {
            "model": Problem,
            "description": "Step not open at the review's stage, already recorded, or the "
                           "review is complete",
        }},
    )

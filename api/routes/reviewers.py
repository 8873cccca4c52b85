"""Which reviewers a case's LCSPR has (issue 9, item 8: "A reviewer token is bound to the
reviews it is assigned to (a claim or an assignment in the store), not every case").

The MARS team (for the CSPR group, which commissions the reviewer: Flowchart 3) or operations
assign a reviewer by the subject (`sub`) of its tokens, or by a person of the partner directory
(their e-mail address, which is then the subject). A reviewer's token reaches a case only while
it is assigned (api/deps.py `reviewer_bound`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import Session, Sessions, requires
from api.errors import ApiError, FieldError, Problem, not_found, store_errors
from api.routes.cases import CaseId
from domain.permissions import Role, can_read_case
from domain.text import ONE_LINE, clean_line
from store import assignments, directory
from store.models import Case, Person

router = APIRouter(prefix="/v1/cases", tags=["local review"])
ASSIGN_ROLES = frozenset({Role.MARS_TEAM, Role.ADMIN})
Assigner = Annotated[Principal, Depends(requires(lambda r: r in ASSIGN_ROLES,
                                                 "assign a reviewer"))]
Reader = Annotated[Principal, Depends(requires(can_read_case, "read a case"))]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
                    AfterValidator(clean_line), ONE_LINE]
_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"model": Problem, "description": "No such case (or person, or assignment)"},
    503: {"model": Problem, "description": "The case store cannot be reached"},
}


class ReviewerAssign(BaseModel):
    """The reviewer: the subject of its tokens, or a person of the partner directory."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"subject": "reviewer@independent.example"}, {"person_id": 7}]})

    subject: Subject | None = None
    person_id: int | None = Field(None, ge=1, le=2**31 - 1)

    @model_validator(mode="after")
    def _one(self) -> ReviewerAssign:
        if (self.subject is None) == (self.person_id is None):
            raise ValueError("subject: give either subject or person_id")
        return self


class ReviewerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: str
    subject: str
    assigned_at: datetime
    assigned_by: str


async def _case(session: Any, case_id: str) -> None:
    if await session.get(Case, case_id) is None:
        raise not_found(case_id)


@router.post("/{case_id}/reviewers", status_code=201, response_model=ReviewerRead,
             responses=_ERRORS,
             description="Assign a reviewer to the case's LCSPR: its tokens then reach this "
             f"case (and no case it is not assigned to).\n\n{who_may(ASSIGN_ROLES)}")
async def assign_reviewer(case_id: CaseId, body: ReviewerAssign, sessions: Sessions,
                          principal: Assigner) -> ReviewerRead:
    """Assign a reviewer to a case."""
    async with store_errors(), sessions.begin() as session:
        await _case(session, case_id)
        subject = body.subject
        if body.person_id is not None:
            # One of the caller's partnership's directory (another's is not found).
            try:
                person: Person | None = await directory.get_person(
                    session, body.person_id, principal.partnership)
            except directory.NotFound:
                person = None
            if person is None or not person.active:
                raise ApiError(404, "Person not found",
                               f"the directory has no active person {body.person_id}",
                               [FieldError(field="person_id", reason="no such active person")])
            subject = person.email
        assert subject is not None, "one of the two, by the model's rule"
        row = await assignments.assign(session, case_id, subject, principal.subject)
        return ReviewerRead.model_validate(row)


@router.get("/{case_id}/reviewers", response_model=list[ReviewerRead], responses=_ERRORS,
            description="The reviewers assigned to the case's LCSPR.\n\n"
            + who_may({r for r in Role if can_read_case(r)}))
async def list_reviewers(case_id: CaseId, session: Session, _: Reader) -> list[ReviewerRead]:
    """The case's reviewers."""
    await _case(session, case_id)
    return [ReviewerRead.model_validate(r) for r in await assignments.reviewers(session, case_id)]


@router.delete("/{case_id}/reviewers", status_code=204, responses=_ERRORS,
               description="End a reviewer's assignment: its tokens no longer reach the case "
               "(204 also when it was not assigned: the request is safe to repeat)."
               f"\n\n{who_may(ASSIGN_ROLES)}")
async def unassign_reviewer(
    case_id: CaseId, sessions: Sessions, _: Assigner,
    subject: Annotated[Subject, Query(description="The reviewer's subject")],
) -> None:
    """End a reviewer's assignment."""
    async with store_errors(), sessions.begin() as session:
        await _case(session, case_id)
        await assignments.unassign(session, case_id, subject)

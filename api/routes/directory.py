"""The partner directory: the partners and agencies that letters and reminders go to, and their
people. The MARS team (and operations) keep it; auditors read it. People are deactivated,
never deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import AUTH_RESPONSES, Principal, who_may
from api.deps import Session, Sessions, requires
from api.errors import ApiError, FieldError, Problem, invalid, store_errors
from api.idempotency import IdempotencyKey, once
from domain.directory import OrganisationKind, normalise_email, organisation_problem
from domain.notification import Name
from domain.permissions import (
    DIRECTORY_READ_ROLES,
    DIRECTORY_WRITE_ROLES,
    Role,
    can_edit_directory,
    can_read_directory,
)
from domain.procedure import Partner
from domain.text import ONE_LINE, clean_line
from store import directory as store
from store.db import Sessionmaker
from store.models import Organisation, Person

router = APIRouter(prefix="/v1/directory", tags=["partner directory"])
Reader = Annotated[Principal, Depends(requires(can_read_directory, "read the partner directory"))]
Editor = Annotated[Principal, Depends(requires(can_edit_directory,
                                               "change the partner directory"))]
_MAX_ID = 2**31 - 1  # the columns are PostgreSQL integers: a larger id is no row, not a 500
OrganisationId = Annotated[int, Path(ge=1, le=_MAX_ID, description="The organisation's id")]
PersonId = Annotated[int, Path(ge=1, le=_MAX_ID, description="The person's id")]

# A directory's names and addresses go into e-mail headers: one line each.
OneLine = Annotated[Name, AfterValidator(clean_line), ONE_LINE]
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(clean_line), ONE_LINE,
                  AfterValidator(normalise_email),
                  Field(description="A plain e-mail address; kept in lower case, listed once",
                        examples=["dsp.health@nhs.example"])]


class PersonCreate(BaseModel):
    """A person of an organisation, who receives the letters and reminders of their role."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Sam Patel", "email": "sam.patel@nhs.example", "role": "dsp",
    }]})

    name: OneLine
    email: Email
    role: Role = Field(description="The role whose letters and reminders they receive; an "
                                   "`ssl` or `dsp` belongs to a partner organisation")


class PersonUpdate(BaseModel):
    """What changes; at least one field. `{"active": false}` deactivates: no more letters or
    reminders, and the person stays named in those already sent."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"active": False}, {"email": "sam.patel@nhs.example", "role": "ssl"},
    ]})

    name: OneLine | None = None
    email: Email | None = None
    role: Role | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _something_and_no_nulls(self) -> PersonUpdate:
        if not self.model_fields_set:
            raise ValueError("body: give at least one of name, email, role, active")
        for field in sorted(self.model_fields_set):
            if getattr(self, field) is None:
                raise ValueError(f"{field}: may not be null")
        return self


class PersonRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organisation_id: int
    name: str
    email: str
    role: Role
    active: bool


class OrganisationCreate(BaseModel):
    """A partner (naming which of the three) or an agency (naming none)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Humber and North Yorkshire ICB", "kind": "partner", "partner": "health"},
        {"name": "NHS Trust", "kind": "agency"},
    ]})

    name: OneLine = Field(description="Unique in any letter case; an agency's as its tokens' "
                                   "`org` names it")
    kind: OrganisationKind
    partner: Partner | None = Field(None, description="Which partner, for a partner "
                                                      "organisation only")

    @model_validator(mode="after")
    def _kind_and_partner_agree(self) -> OrganisationCreate:
        if (problem := organisation_problem(self.kind, self.partner)) is not None:
            raise ValueError(f"{problem.field}: {problem.reason}")
        return self


class OrganisationRead(BaseModel):
    id: int
    name: str
    kind: OrganisationKind
    partner: Partner | None
    people: list[PersonRead]

    @classmethod
    def of(cls, organisation: Organisation, people: list[Person]) -> OrganisationRead:
        return cls(id=organisation.id, name=organisation.name,
                   kind=OrganisationKind(organisation.kind),
                   partner=Partner(organisation.partner) if organisation.partner else None,
                   people=[PersonRead.model_validate(p) for p in people])


_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    503: {"model": Problem, "description": "The case store cannot be reached; try again"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such organisation or person"}}
_TAKEN: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "The name or e-mail address is already in the "
                                           "directory"}}


@asynccontextmanager
async def _writing(sessions: Sessionmaker) -> AsyncIterator[AsyncSession]:
    """One transaction, committed on leaving; the directory's refusals as problems."""
    try:
        async with store_errors(), sessions.begin() as session:
            yield session
    except store.NotFound as e:
        raise ApiError(404, f"{e.what.capitalize()} not found", str(e)) from None
    except store.Duplicate as e:
        raise ApiError(409, "Already in the directory", str(e),
                       [FieldError(field=e.field, reason="is already in the directory")]
                       ) from None
    except store.Invalid as e:
        raise invalid(e.problem.field, e.problem.reason) from None


@router.get(
    "/organisations", response_model=list[OrganisationRead], responses=_ERRORS,
    description="Every partner and agency by name, each with its active people.\n\n"
                f"{who_may(DIRECTORY_READ_ROLES)}",
)
async def list_organisations(
    session: Session, principal: Reader, include_inactive: bool = False,
) -> list[OrganisationRead]:
    """The partner directory (the caller's partnership's); with `include_inactive`,
    deactivated people too."""
    listings = await store.list_organisations(session, include_inactive=include_inactive,
                                              partnership=principal.partnership)
    return [OrganisationRead.of(x.organisation, x.people) for x in listings]


@router.post(
    "/organisations", status_code=201, response_model=OrganisationRead,
    responses={**_ERRORS, **_TAKEN},
    description="Add a partner or an agency. A partner organisation names which partner "
                "(`local_authority`, `health` or `police`); an agency names none.\n\n"
                f"{who_may(DIRECTORY_WRITE_ROLES)}",
)
async def create_organisation(
    body: OrganisationCreate, sessions: Sessions, principal: Editor,
    key: IdempotencyKey = None,
) -> OrganisationRead | JSONResponse:
    """Add an organisation to the directory."""

    async def create() -> OrganisationRead:
        async with _writing(sessions) as session:
            organisation = await store.add_organisation(session, body.name, body.kind,
                                                        body.partner, principal.partnership)
            return OrganisationRead.of(organisation, [])

    return await once(sessions, key, principal, "POST /v1/directory/organisations",
                      body.model_dump(mode="json"), 201, create)


@router.post(
    "/organisations/{organisation_id}/people", status_code=201, response_model=PersonRead,
    responses={**_ERRORS, **_NOT_FOUND, **_TAKEN},
    description="Add a person to an organisation: the letters and reminders of their role go "
                "to them. An `ssl` or `dsp` belongs to a partner organisation.\n\n"
                f"{who_may(DIRECTORY_WRITE_ROLES)}",
)
async def add_person(
    organisation_id: OrganisationId, body: PersonCreate, sessions: Sessions,
    principal: Editor, key: IdempotencyKey = None,
) -> PersonRead | JSONResponse:
    """Add a person to an organisation."""

    async def add() -> PersonRead:
        async with _writing(sessions) as session:
            person = await store.add_person(session, organisation_id, body.name, body.email,
                                            body.role, principal.partnership)
            return PersonRead.model_validate(person)

    return await once(sessions, key, principal,
                      f"POST /v1/directory/organisations/{organisation_id}/people",
                      body.model_dump(mode="json"), 201, add)


@router.patch(
    "/people/{person_id}", response_model=PersonRead,
    responses={**_ERRORS, **_NOT_FOUND, **_TAKEN},
    description="Change a person's name, e-mail address or role, or deactivate them with "
                '`{"active": false}` (people are never deleted: letters already sent name '
                "them).\n\n"
                f"{who_may(DIRECTORY_WRITE_ROLES)}",
)
async def update_person(
    person_id: PersonId, body: PersonUpdate, sessions: Sessions, principal: Editor,
    key: IdempotencyKey = None,
) -> PersonRead | JSONResponse:
    """Change or deactivate a person."""

    async def update() -> PersonRead:
        async with _writing(sessions) as session:
            person = await store.update_person(session, person_id, name=body.name,
                                               email=body.email, role=body.role,
                                               active=body.active,
                                               partnership=principal.partnership)
            return PersonRead.model_validate(person)

    return await once(sessions, key, principal, f"PATCH /v1/directory/people/{person_id}",
                      body.model_dump(mode="json", exclude_unset=True), 200, update)

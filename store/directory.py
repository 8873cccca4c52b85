"""The partner directory: organisations and their people, whom letters and reminders go to.

Plain functions that take a session; the caller commits. People are never deleted (letters
already sent name them): they are deactivated, and only active people receive anything.
E-mail addresses are kept in lower case (`domain.directory.normalise_email`), so one address
is listed once; an organisation's name is unique in any letter case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.directory import (
    FieldProblem,
    OrganisationKind,
    normalise_email,
    organisation_problem,
    person_problem,
)
from domain.permissions import Role
from domain.procedure import Partner
from store.models import Organisation, Person
from store.tenancy import DEFAULT


class DirectoryError(Exception):
    """A change the directory refuses; the message names no personal data."""


class NotFound(DirectoryError):
    def __init__(self, what: str, id_: int):
        super().__init__(f"no {what} {id_}")
        self.what = what
        self.id = id_


class Duplicate(DirectoryError):
    """The name or e-mail address is already in the directory."""

    def __init__(self, field: str):
        super().__init__(f"{field}: is already in the directory")
        self.field = field


class Invalid(DirectoryError):
    def __init__(self, problem: FieldProblem):
        super().__init__(f"{problem.field}: {problem.reason}")
        self.problem = problem


@dataclass(frozen=True)
class Listing:
    """An organisation with the people listed for it."""

    organisation: Organisation
    people: list[Person]


async def partnerships(session: AsyncSession) -> list[str]:
    """The partnerships the directory has organisations of, by name (the development sign-in
    lists every partnership's people)."""
    return list((await session.scalars(
        select(Organisation.partnership).distinct().order_by(Organisation.partnership))).all())


async def list_organisations(
    session: AsyncSession, *, include_inactive: bool = False, partnership: str = DEFAULT,
) -> list[Listing]:
    """Every organisation of `partnership`'s directory by name (in any letter case), each with
    its active people (all of them if `include_inactive`) by name."""
    organisations = (await session.scalars(
        select(Organisation).where(Organisation.partnership == partnership)
        .order_by(func.lower(Organisation.name), Organisation.id))).all()
    query = select(Person).order_by(func.lower(Person.name), Person.id)
    if not include_inactive:
        query = query.where(Person.active.is_(True))
    people: dict[int, list[Person]] = {}
    for person in await session.scalars(query):
        people.setdefault(person.organisation_id, []).append(person)
    return [Listing(o, people.get(o.id, [])) for o in organisations]


async def get_organisation(session: AsyncSession, organisation_id: int,
                           partnership: str = DEFAULT) -> Organisation:
    """One of `partnership`'s organisations (another's is not found)."""
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None or organisation.partnership != partnership:
        raise NotFound("organisation", organisation_id)
    return organisation


async def _check_name(session: AsyncSession, name: str, but: int | None = None) -> None:
    query = select(Organisation.id).where(func.lower(Organisation.name) == name.lower())
    if but is not None:
        query = query.where(Organisation.id != but)
    if await session.scalar(query.limit(1)) is not None:
        raise Duplicate("name")


async def _check_email(session: AsyncSession, email: str, but: int | None = None) -> None:
    query = select(Person.id).where(Person.email == email)
    if but is not None:
        query = query.where(Person.id != but)
    if await session.scalar(query.limit(1)) is not None:
        raise Duplicate("email")


async def _flush(session: AsyncSession, unique_field: str) -> None:
    """Write now: a unique constraint hit by a concurrent change is a duplicate too."""
    try:
        await session.flush()
    except IntegrityError:
        raise Duplicate(unique_field) from None


def _check_organisation(kind: OrganisationKind, partner: Partner | None) -> None:
    if (problem := organisation_problem(kind, partner)) is not None:
        raise Invalid(problem)


async def add_organisation(
    session: AsyncSession, name: str, kind: OrganisationKind, partner: Partner | None = None,
    partnership: str = DEFAULT,
) -> Organisation:
    _check_organisation(kind, partner)
    await _check_name(session, name)
    organisation = Organisation(name=name, kind=kind.value,
                                partner=partner.value if partner else None,
                                partnership=partnership)
    session.add(organisation)
    await _flush(session, "name")
    return organisation


async def update_organisation(
    session: AsyncSession, organisation_id: int, *, name: str | None = None,
    kind: OrganisationKind | None = None, partner: Partner | None = None,
    partnership: str = DEFAULT,
) -> Organisation:
    """Rename an organisation, or change its kind and partner (given together: an agency's
    partner is None). Its people must still fit it (no SSL or DSP at an agency)."""
    organisation = await get_organisation(session, organisation_id, partnership)
    if kind is not None:
        _check_organisation(kind, partner)
        if kind is OrganisationKind.AGENCY:
            people = await session.scalars(select(Person.role).where(
                Person.organisation_id == organisation_id, Person.active.is_(True)))
            for role in people:
                if (problem := person_problem(Role(role), kind)) is not None:
                    raise Invalid(FieldProblem("kind", f"it lists an active {role}: "
                                               f"{problem.reason}"))
        organisation.kind = kind.value
        organisation.partner = partner.value if partner else None
    elif partner is not None:
        _check_organisation(OrganisationKind(organisation.kind), partner)
        organisation.partner = partner.value
    if name is not None and name != organisation.name:
        await _check_name(session, name, but=organisation_id)
        organisation.name = name
    await _flush(session, "name")
    return organisation


async def add_person(
    session: AsyncSession, organisation_id: int, name: str, email: str, role: Role,
    partnership: str = DEFAULT,
) -> Person:
    organisation = await get_organisation(session, organisation_id, partnership)
    if (problem := person_problem(role, OrganisationKind(organisation.kind))) is not None:
        raise Invalid(problem)
    address = _email(email)
    await _check_email(session, address)
    person = Person(organisation_id=organisation_id, name=name, email=address,
                    role=role.value, active=True)
    session.add(person)
    await _flush(session, "email")
    return person


async def get_person(session: AsyncSession, person_id: int,
                     partnership: str = DEFAULT) -> Person:
    """One of the people of `partnership`'s directory (another's is not found)."""
    person = await session.get(Person, person_id)
    if person is None or await session.scalar(
            select(Organisation.partnership).where(Organisation.id == person.organisation_id)
    ) != partnership:
        raise NotFound("person", person_id)
    return person


async def update_person(
    session: AsyncSession, person_id: int, *, name: str | None = None,
    email: str | None = None, role: Role | None = None, active: bool | None = None,
    partnership: str = DEFAULT,
) -> Person:
    """Change what is given; `active=False` deactivates (nothing is ever deleted)."""
    person = await get_person(session, person_id, partnership)
    if role is not None:
        organisation = await get_organisation(session, person.organisation_id, partnership)
        if (problem := person_problem(role, OrganisationKind(organisation.kind))) is not None:
            raise Invalid(problem)
        person.role = role.value
    if email is not None:
        address = _email(email)
        if address != person.email:
            await _check_email(session, address, but=person_id)
            person.email = address
    if name is not None:
        person.name = name
    if active is not None:
        person.active = active
    await _flush(session, "email")
    return person


async def deactivate_person(session: AsyncSession, person_id: int,
                            partnership: str = DEFAULT) -> Person:
    """No more letters or reminders to them; they stay named in those already sent."""
    return await update_person(session, person_id, active=False, partnership=partnership)


async def recipients(
    session: AsyncSession, role: Role, partner_or_agency: str | None = None,
    partnership: str = DEFAULT,
) -> list[Person]:
    """The active people of a role in `partnership`'s directory, by name; of one organisation
    only if `partner_or_agency` is given: a partner (`health`) or an organisation's name in any
    letter case (`NHS Trust`), as a token's `org` names them."""
    query = (select(Person).join(Organisation, Organisation.id == Person.organisation_id)
             .where(Person.role == role.value, Person.active.is_(True),
                    Organisation.partnership == partnership)
             .order_by(func.lower(Person.name), Person.id))
    if partner_or_agency is not None:
        query = query.where(or_(Organisation.partner == partner_or_agency,
                                func.lower(Organisation.name) == partner_or_agency.lower()))
    people: Sequence[Person] = (await session.scalars(query)).all()
    return list(people)


async def partner_names(session: AsyncSession) -> dict[Partner, str]:
    """Each safeguarding partner's name as the directory lists its organisation (Doc 4 names
    them); organisations sharing one partner by name, joined with " and "; a partner the
    directory has no organisation for is left out (the letter then uses the procedure's)."""
    rows = await session.scalars(
        select(Organisation).where(Organisation.kind == OrganisationKind.PARTNER.value,
                                   Organisation.partner.is_not(None))
        .order_by(func.lower(Organisation.name), Organisation.id))
    found: dict[Partner, list[str]] = {}
    for organisation in rows:
        if organisation.partner in {p.value for p in Partner}:
            found.setdefault(Partner(organisation.partner), []).append(organisation.name)
    return {partner: " and ".join(names) for partner, names in found.items()}


def _email(value: str) -> str:
    try:
        return normalise_email(value)
    except ValueError as e:
        raise Invalid(FieldProblem("email", str(e))) from None

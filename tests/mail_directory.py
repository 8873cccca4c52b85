"""A case store whose partner directory lists one DSP and one SSL per partner, the MARS team,
and one person at an agency: every letter of a case has someone to go to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from domain.directory import OrganisationKind
from domain.permissions import Role
from domain.procedure import Partner
from store import directory
from store.db import Sessionmaker, make_sessionmaker
from tests import database

AGENCY = "Serial Test Trust"


@asynccontextmanager
async def directory_store(tmp: Path) -> AsyncIterator[Sessionmaker]:
    engine, schema, url = await database.test_database(tmp)
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        for partner in Partner:
            org = await directory.add_organisation(session, f"Partner {partner.value}",
                                                   OrganisationKind.PARTNER, partner)
            for role in (Role.DSP, Role.SSL):
                await directory.add_person(session, org.id, f"{role.value} {partner.value}",
                                           f"{role.value}.{partner.value}@cspr.test", role)
            if partner is Partner.LOCAL_AUTHORITY:
                await directory.add_person(session, org.id, "MARS", "mars@cspr.test",
                                           Role.MARS_TEAM)
        agency = await directory.add_organisation(session, AGENCY, OrganisationKind.AGENCY)
        await directory.add_person(session, agency.id, "Agency lead", "agency@cspr.test",
                                   Role.AGENCY)
    try:
        yield sessions
    finally:
        await database.drop(engine, schema, url)

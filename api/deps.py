"""Typed dependencies: the Temporal client and settings the lifespan put on the app, and the
caller's principal from their bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.auth import Principal, authenticate, forbidden
from api.errors import store_errors
from domain.permissions import Refusal, Role
from infra.settings import Settings
from store.db import Sessionmaker


def get_client(request: Request) -> Client:
    return cast(Client, request.app.state.temporal)


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def get_sessions(request: Request) -> Sessionmaker:
    return cast(Sessionmaker, request.app.state.sessions)


async def get_session(sessions: Annotated[Sessionmaker, Depends(get_sessions)]
                      ) -> AsyncIterator[AsyncSession]:
    """A read session of the case store (the API writes only through `Sessions`)."""
    async with store_errors(), sessions() as session:
        yield session


TemporalClient = Annotated[Client, Depends(get_client)]
Sessions = Annotated[Sessionmaker, Depends(get_sessions)]
Session = Annotated[AsyncSession, Depends(get_session)]
AppSettings = Annotated[Settings, Depends(get_settings)]
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def requires(
    allowed: Callable[[Role], bool], what: str
) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller's principal, or 403 if their role may not do `what`.

    It runs before the body is read: a role that may not call a route learns nothing of it.
    """

    async def check(principal: CurrentPrincipal) -> Principal:
        if not allowed(principal.role):
            raise forbidden(Refusal(f"the {principal.role} role cannot {what}"))
        return principal

    return check

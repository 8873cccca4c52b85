"""Typed dependencies: the Temporal client and settings the lifespan put on the app, and the
caller's principal from their bearer token."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.auth import Principal, authenticate, forbidden
from api.errors import not_found, store_errors
from api.schemas import CASE_ID_PATTERN
from domain.permissions import Refusal, Role
from infra.settings import Settings
from store import assignments, tenancy
from store.db import Sessionmaker

logger = logging.getLogger("cspr.api")


def get_client(request: Request) -> Client:
    return cast(Client, request.app.state.temporal)


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def get_sessions(request: Request) -> Sessionmaker:
    return cast(Sessionmaker, request.app.state.sessions)


async def get_session(sessions: Annotated[Sessionmaker, Depends(get_sessions)]
                      ) -> AsyncIterator[AsyncSession]:
    """A read session of the case store (the API writes only through `Sessions`)."""
    session = sessions()
    try:
        async with store_errors():
            yield session
    finally:
        # Closed once the answer has gone (a dependency's exit runs after the response): a
        # store that went away meanwhile must not fail an answer already started, which the
        # server can then only drop (seen by the fault suite). The pool discards the
        # connection; the route's own store errors were answered 503 above.
        try:
            await session.close()
        except Exception as exc:
            logger.warning("a read session of the case store did not close: %s",
                           type(exc).__name__)


TemporalClient = Annotated[Client, Depends(get_client)]
Sessions = Annotated[Sessionmaker, Depends(get_sessions)]
Session = Annotated[AsyncSession, Depends(get_session)]
AppSettings = Annotated[Settings, Depends(get_settings)]
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def requires(
    allowed: Callable[[Role], bool], what: str
) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's principal, or 403 if their role may not do `what`.

    It runs before the body is read: a role that may not call a route learns nothing of it.
    """

    async def check(principal: CurrentPrincipal, request: Request) -> Principal:
        # Another partnership's case is not there for this caller: 404, before any 403 that
        # would tell it the case exists.
        await partnership_bound(principal, request)
        if not allowed(principal.role):
            raise forbidden(Refusal(f"the {principal.role} role cannot {what}"))
        await reviewer_bound(principal, request)
        return principal

    return check


async def partnership_bound(principal: Principal, request: Request) -> None:
    """A caller reaches only its own partnership's cases (store.tenancy): a case of another is
    answered 404, as one that does not exist, whatever the route and the role."""
    case_id = request.path_params.get("case_id")
    if not isinstance(case_id, str) or not re.match(CASE_ID_PATTERN, case_id):
        return  # not a case number: the route's own validation answers it
    session = get_sessions(request)()
    try:
        async with store_errors():
            partnership = await tenancy.partnership_of(session, case_id)
    finally:
        # As get_session: a store gone away after the read fails nothing (its read errors
        # were answered 503 above); the pool discards the connection.
        try:
            await session.close()
        except Exception as exc:
            logger.warning("a read session of the case store did not close: %s",
                           type(exc).__name__)
    if partnership != principal.partnership:
        raise not_found(case_id)


async def reviewer_bound(principal: Principal, request: Request) -> None:
    """A reviewer's token reaches only the cases it is assigned to (issue 9, item 8: "A
    reviewer token is bound to the reviews it is assigned to ... not every case"): 403 on any
    other, whether or not it exists."""
    case_id = request.path_params.get("case_id")
    if principal.role is not Role.REVIEWER or not isinstance(case_id, str):
        return
    async with store_errors(), get_sessions(request)() as session:
        if await assignments.assigned(session, case_id, principal.subject):
            return
    raise forbidden(Refusal("the reviewer role reaches only the cases whose LCSPR it is "
                            "assigned to (POST /v1/cases/{case_id}/reviewers)"))

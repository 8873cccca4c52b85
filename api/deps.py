"""Typed dependencies: the Temporal client and settings the lifespan put on the app, and the
caller's principal from their bearer token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, cast

from fastapi import Depends, Request
from temporalio.client import Client

from api.auth import Principal, authenticate, forbidden
from domain.permissions import Refusal, Role
from infra.settings import Settings


def get_client(request: Request) -> Client:
    return cast(Client, request.app.state.temporal)


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


TemporalClient = Annotated[Client, Depends(get_client)]
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

"""Typed dependencies: the Temporal client and settings the lifespan put on the app."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request
from temporalio.client import Client

from infra.settings import Settings


def get_client(request: Request) -> Client:
    return cast(Client, request.app.state.temporal)


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


TemporalClient = Annotated[Client, Depends(get_client)]
AppSettings = Annotated[Settings, Depends(get_settings)]

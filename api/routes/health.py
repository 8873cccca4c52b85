"""Liveness and readiness."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import TemporalClient
from api.errors import Problem, unavailable

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health,
            responses={503: {"model": Problem, "description": "Temporal cannot be reached"}})
async def readyz(client: TemporalClient) -> Health:
    """Temporal can be reached: the API can take notifications and decisions."""
    try:
        ok = await client.service_client.check_health(timeout=timedelta(seconds=2))
    except Exception:  # any failure to reach Temporal means not ready
        ok = False
    if not ok:
        raise unavailable("Temporal")
    return Health(status="ready")

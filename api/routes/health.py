"""Liveness and readiness."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from api.deps import AppSettings, Sessions, TemporalClient
from api.errors import RETRY_AFTER_SECONDS, ApiError, FieldError, Problem
from store.db import Sessionmaker

router = APIRouter(tags=["health"])
_CHECK_SECONDS = 2.0
# A worker's long poll lasts up to a minute, and the server notes the poll when it begins: a
# poller seen within this long is a live worker; one killed drops out after it.
_POLLER_FRESH = timedelta(seconds=90)


class Health(BaseModel):
    status: str


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health,
            responses={503: {"model": Problem, "description": "Not ready: `errors` names what "
                             "is missing (store, temporal, worker) and why"}})
async def readyz(client: TemporalClient, sessions: Sessions, settings: AppSettings) -> Health:
    """The case store and Temporal answer, and a worker polls the task queue: the API can take
    notifications and decisions, and the cases move."""
    store, temporal = await asyncio.gather(_store(sessions), _temporal(client))
    worker = (await _worker(client, settings.task_queue) if temporal is None
              else "not known while Temporal cannot be reached")
    missing = [FieldError(field=name, reason=reason)
               for name, reason in (("store", store), ("temporal", temporal), ("worker", worker))
               if reason is not None]
    if missing:
        raise ApiError(503, "Not ready", "; ".join(f"{m.field}: {m.reason}" for m in missing),
                       missing, headers={"Retry-After": RETRY_AFTER_SECONDS})
    return Health(status="ready")


async def _store(sessions: Sessionmaker) -> str | None:
    try:
        async with asyncio.timeout(_CHECK_SECONDS), sessions() as session:
            await session.execute(text("select 1"))
    except Exception:  # any failure to reach the store means not ready
        return "the case store cannot be reached"
    return None


async def _temporal(client: Client) -> str | None:
    try:
        ok = await client.service_client.check_health(
            timeout=timedelta(seconds=_CHECK_SECONDS))
    except Exception:  # any failure to reach Temporal means not ready
        ok = False
    return None if ok else "Temporal cannot be reached"


async def _worker(client: Client, task_queue: str) -> str | None:
    """None if a worker has polled the task queue for workflow tasks lately."""
    try:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
            timeout=timedelta(seconds=_CHECK_SECONDS))
    except Exception:  # Temporal answered the health check but not this: not ready
        return f"the task queue {task_queue} cannot be described"
    now = time.time()
    live = [p for p in described.pollers
            if now - p.last_access_time.ToSeconds() <= _POLLER_FRESH.total_seconds()]
    return None if live else f"no worker polls the task queue {task_queue}"

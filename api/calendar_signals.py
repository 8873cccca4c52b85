"""Telling every open workflow that the calendar changed (the `calendar_changed` signal), so
that each recounts its open working-day deadlines through the calendar activity."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.calendar import CalendarChanged
from store import calendar as store
from store.db import Sessionmaker
from workflows.ids import action_plan_id, local_review_id

logger = logging.getLogger("cspr.api.calendar")
SIGNAL = "calendar_changed"
# Signals in flight at once: a few hundred open cases are told in a second or two.
CONCURRENCY = 32
SIGNAL_TIMEOUT = 5.0
# The workflow that runs each part of a case (store.calendar.open_parts).
_WORKFLOW_OF = {store.CASE: lambda case_id: case_id, "local_review": local_review_id,
                "action_plan": action_plan_id}


@dataclass
class Told:
    """Who heard of a change: told, not running (finished or gone), and not reached."""

    told: int = 0
    not_running: int = 0
    unreachable: list[str] = field(default_factory=list)


async def tell_open_workflows(client: Client, sessions: Sessionmaker,
                              change: CalendarChanged) -> Told:
    """Signal every workflow the case store has as open; never raises for one that fails."""
    async with sessions() as session:
        ids = [_WORKFLOW_OF[part](case_id)
               for case_id, part in await store.open_parts(session) if part in _WORKFLOW_OF]
    told = Told()
    limit = asyncio.Semaphore(CONCURRENCY)

    async def tell(workflow_id: str) -> None:
        async with limit:
            try:
                async with asyncio.timeout(SIGNAL_TIMEOUT):
                    await client.get_workflow_handle(workflow_id).signal(SIGNAL, change)
            except RPCError as e:
                if e.status is RPCStatusCode.NOT_FOUND:
                    # Completed since the store last saw it, or deleted: nothing to recount.
                    told.not_running += 1
                    return
                logger.warning("calendar change not signalled to %s: %s", workflow_id,
                               e.status.name if e.status else "error")
                told.unreachable.append(workflow_id)
                return
            except (TimeoutError, RuntimeError) as e:
                # RuntimeError: the SDK's core when Temporal cannot be reached at all.
                logger.warning("calendar change not signalled to %s: %s", workflow_id,
                               type(e).__name__)
                told.unreachable.append(workflow_id)
                return
            told.told += 1

    await asyncio.gather(*(tell(i) for i in ids))
    told.unreachable.sort()
    return told

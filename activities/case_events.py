"""Case events leave the workflow here: a log line now; the audit trail and e-mail later."""

from __future__ import annotations

import logging

from pydantic import BaseModel
from temporalio import activity

from domain.case import EventKind
from domain.procedure import Step

logger = logging.getLogger("cspr.case_events")


class CaseEventInput(BaseModel):
    """Only what identifies the event: never a child's details."""

    case_id: str
    sequence: int
    kind: EventKind
    step: Step | None = None
    detail: str = ""


@activity.defn(name="record_case_event")
async def record_case_event(event: CaseEventInput) -> None:
    """Log a case event (a reminder, an escalation, a decision, a change of stage)."""
    logger.info(
        "case %s event #%d %s step=%s %s",
        event.case_id, event.sequence, event.kind.value,
        event.step.value if event.step else "-", event.detail,
    )

"""An uncertain e-mail of a case whose workflow has closed, settled as the MARS team says.

An e-mail cut off mid-send (`uncertain`) is settled by the case's own workflow (`resolve_mail`)
while the case runs. A case closes, though, with its letters still in doubt (a closing letter
cut off, say), and its workflow can then take no Update (the API answered 409). This small
workflow does the same for a closed case: the outbox row settled (`resolve_mail`: received, or
pending again as a resend), a resend delivered with the Message-ID it was first sent with, and
each outcome a line in the case's audit trail under the part "mail" (who, and what became of
the message: its number and counts, never an address).

Its id is the message's (`ids.closed_mail_id`): a second request for the same message while the
first runs joins it, and every step is idempotent (the outbox's resolve and delivery, the audit
line written once), so a retry or a crash never sends a message twice.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.mail import (
        DeliverMailInput,
        MailAuditInput,
        ResolvedMail,
        ResolveMailInput,
    )
    from domain.decisions import Actor
    from domain.mail import MailOutcome
    from workflows.mail import deliver, resolve, shortfall, summary

AUDIT_TIMEOUT = timedelta(seconds=30)


class ClosedMailInput(BaseModel):
    case_id: str
    message_id: int
    outcome: MailOutcome
    actor: Actor | None = None


class ClosedMailResult(BaseModel):
    message_id: int
    outcome: MailOutcome
    detail: str  # what became of it: "confirmed received", "sent again: 1 sent of 1", ...


@workflow.defn(name="ClosedCaseMail")
class ClosedCaseMailWorkflow:
    @workflow.run
    async def run(self, input: ClosedMailInput) -> ClosedMailResult:
        resolved: ResolvedMail = await resolve(ResolveMailInput(
            case_id=input.case_id, message_id=input.message_id, outcome=input.outcome))
        received = input.outcome is MailOutcome.RECEIVED
        what = "confirmed received" if received else "to be sent again"
        await self._audit(input, "mail_resolved",
                          f"message {resolved.message_id} {what} (the case is closed)")
        if received:
            return ClosedMailResult(message_id=resolved.message_id, outcome=input.outcome,
                                    detail="confirmed received")
        result = await deliver(DeliverMailInput(case_id=input.case_id, keys=[resolved.key]))
        missed = shortfall(result)
        if missed is not None:
            kind, detail = "mail_failed", f"resend: {missed}"
        else:
            assert not isinstance(result, str)  # a str result is always a shortfall
            kind, detail = "mail_sent", f"resend: {summary(result)}"
        await self._audit(input, kind, f"message {resolved.message_id} {detail}")
        return ClosedMailResult(message_id=resolved.message_id, outcome=input.outcome,
                                detail=detail)

    async def _audit(self, input: ClosedMailInput, kind: str, detail: str) -> None:
        actor = input.actor
        await workflow.execute_activity(
            "audit_mail", MailAuditInput(
                case_id=input.case_id, kind=kind, detail=detail,
                actor_subject=actor.subject if actor else None,
                actor_role=actor.role if actor else None,
                actor_organisation=actor.organisation if actor else None),
            start_to_close_timeout=AUDIT_TIMEOUT)

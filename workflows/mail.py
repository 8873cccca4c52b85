"""E-mail from a workflow: a step's letters, reminders and escalations, in the background.

A send never holds the case up: its retries (`activities.mail.RETRY_POLICY`) can take hours
while the SMTP server is down, and meanwhile deadlines must still fire. Each send runs as a task
of the workflow's own; what became of it comes back as an event on the case. Every message goes
through the outbox, so the activity may be retried, and the workflow replayed, without sending
anything twice.

Patch "mail" (`workflow.patched`), asked at the first e-mail a workflow would send: a history
recorded before e-mail existed replays without it. The SDK keeps the answer it first gave, and
a case already running when this is deployed first asks while it replays its past reminders,
so it sends no e-mail for the rest of its life (its reminders stay events and audit rows, as
before); only a case that had no reminder yet when the worker picked it up starts e-mailing.
The `send_letters` update is new (no history from before has it): it always sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.mail import (
        HEARTBEAT_TIMEOUT,
        MAIL_TIMEOUT,
        RETRY_POLICY,
        AlertMailInput,
        AlertMailResult,
        DeliverMailInput,
        ResolvedMail,
        ResolveMailInput,
        ReviewLetterInput,
        SendLettersInput,
        SendLettersResult,
    )

MAIL_PATCH = "mail"
Result = SendLettersResult | AlertMailResult


class Mailer:
    """The e-mail a workflow has in flight."""

    def __init__(self, since: Callable[[str], bool]) -> None:
        self._since = since
        self._enabled: bool | None = None
        self._started = False
        self._tasks: set[asyncio.Task[None]] = set()

    def enabled(self) -> bool:
        if self._enabled is None:
            self._enabled = self._since(MAIL_PATCH)
        return self._enabled

    @property
    def used(self) -> bool:
        """Whether this workflow has e-mailed (then it waits for its sends before it ends)."""
        return self._started

    @property
    def busy(self) -> bool:
        """Whether a send is in flight."""
        return bool(self._tasks)

    def start(self, send: Coroutine[Any, Any, None]) -> None:
        self._started = True
        task = asyncio.create_task(send)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every send in flight (before the workflow ends or continues as new)."""
        while self._tasks:
            for outcome in await asyncio.gather(*list(self._tasks), return_exceptions=True):
                if isinstance(outcome, BaseException):
                    # A send's own failures become case events; anything else is a defect,
                    # logged (by type: never the content) rather than failing the case forever.
                    workflow.logger.error("e-mail task failed: %s", type(outcome).__name__)


async def send_letters(input: SendLettersInput) -> SendLettersResult | str:
    """Send a step's letters; the result, or why they could not be sent at all."""
    return await _send("send_letters", input, SendLettersResult)


async def send_alert(input: AlertMailInput) -> AlertMailResult | str:
    """E-mail a reminder or an escalation; the result, or why it could not be sent at all."""
    return await _send("send_alert_mail", input, AlertMailResult)


async def send_review_letter(input: ReviewLetterInput) -> AlertMailResult | str:
    """Write and e-mail one of the LCSPR's letters; the result, or why not at all."""
    return await _send("send_review_letter", input, AlertMailResult)


async def deliver(input: DeliverMailInput) -> AlertMailResult | str:
    """Deliver messages already in the outbox (a resend); the result, or why not at all."""
    return await _send("deliver_mail", input, AlertMailResult)


async def resolve(input: ResolveMailInput) -> ResolvedMail:
    """Settle an uncertain message as the MARS team says (a quick write to the outbox; its
    refusals, `MailNotUncertain` and `MailNotFound`, are not retried)."""
    result: ResolvedMail = await workflow.execute_activity(
        "resolve_mail", input, result_type=ResolvedMail,
        start_to_close_timeout=RESOLVE_TIMEOUT,
        retry_policy=RetryPolicy(maximum_attempts=5,
                                 non_retryable_error_types=["MailNotUncertain", "MailNotFound"]))
    return result


RESOLVE_TIMEOUT = timedelta(seconds=30)
R = TypeVar("R", SendLettersResult, AlertMailResult)


async def _send(
    activity: str,
    input: SendLettersInput | AlertMailInput | DeliverMailInput | ReviewLetterInput,
    result_type: type[R],
) -> R | str:
    try:
        result: R = await workflow.execute_activity(
            activity, input, result_type=result_type,
            start_to_close_timeout=MAIL_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RETRY_POLICY)
    except ActivityError as e:
        return failure(e)
    return result


def failure(error: ActivityError) -> str:
    """Why a send gave up, for the case's events: the error's type and message name counts,
    steps and fields, never an address or a child's details."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == "ComposeError":
        # "<document>: <field>: <reason>", naming no value.
        return f"a letter could not be written: {cause.message}"
    # The SMTP server's replies may quote an address: they stay on the case's mail list.
    return "gave up after the attempts allowed (the case's mail list has the server's replies)"


def shortfall(result: Result | str) -> str | None:
    """What a send did not do, for a `mail_failed` event (None if it reached everyone)."""
    if isinstance(result, str):
        return result
    return None if complete(result) else summary(result)


def complete(result: Result) -> bool:
    """Reached everyone it should: nobody missing from the directory, nothing failed or
    uncertain, and someone to send to."""
    return (result.messages > 0 and not result.missing and result.failed == 0
            and result.uncertain == 0)


def summary(result: Result) -> str:
    """Counts and directory labels ("dsp/health") only."""
    parts = [f"{result.sent} sent of {result.messages}"]
    if result.failed:
        parts.append(f"{result.failed} failed")
    if result.uncertain:
        parts.append(f"{result.uncertain} may not have gone (interrupted mid-send; check with "
                     "the recipient, then confirm it received or have it sent again from the "
                     "mail list)")
    if result.missing:
        parts.append("nobody in the directory for " + ", ".join(result.missing))
    return "; ".join(parts)

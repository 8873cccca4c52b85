"""Delivering the outbox's messages (store/outbox.py) by SMTP: each sent at most once.

The outbox keeps each message's state; this is the delivery that moves it, and the only place
that knows what a mail server's failure means for it (infra.mailer's errors): refused for good,
worth another attempt, or cut off mid-send (uncertain).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

from infra.mailer import Mailer, MailRefused, MailTakenOver, MailUnavailable, MailUncertain
from store import outbox
from store.db import Sessionmaker
from store.models import OutboxMessage
from store.outbox import Claim, Status


@dataclass
class Delivery:
    """What a delivery left: counts by status of the messages it was given."""

    sent: int = 0
    pending: int = 0  # a temporary failure: to be tried again
    failed: int = 0
    uncertain: int = 0
    newly_uncertain: list[str] = field(default_factory=list)  # keys found interrupted now
    errors: list[str] = field(default_factory=list)  # the SMTP replies of this delivery


# How long a delivery waits for a message another delivery is connecting for before taking it
# over (a connection and its envelope take milliseconds; a dead delivery never finishes).
SETTLE_SECONDS = 10.0
_SETTLE_POLL = 0.2


async def deliver(
    sessions: Sessionmaker, keys: Sequence[str], mailer: Mailer,
    build: Callable[[OutboxMessage], Awaitable[EmailMessage]], max_attempts: int,
    progress: Callable[[int], None] | None = None, settle: float = SETTLE_SECONDS,
) -> Delivery:
    """Send each pending message of `keys` at most once, as `build` makes it from its row;
    `progress` hears how many messages are done after each (the activity's heartbeat). A
    message another delivery is connecting for is waited for (`settle` seconds), then taken
    over: that delivery is gone, or it sends it and this one finds it sent."""
    report = Delivery()
    async with sessions() as session:
        waiting = [m for m in await outbox.by_keys(session, keys)
                   if m.status in (Status.PENDING, Status.CONNECTING, Status.SENDING)]
    await _send_each(sessions, waiting, mailer, build, max_attempts, progress, report)
    for _ in range(max(1, int(settle / _SETTLE_POLL))):
        async with sessions() as session:
            held = [m for m in await outbox.by_keys(session, keys)
                    if m.status == Status.CONNECTING]
        if not held:
            break
        await asyncio.sleep(_SETTLE_POLL)
    else:
        await _send_each(sessions, held, mailer, build, max_attempts, progress, report)
    async with sessions() as session:
        for m in await outbox.by_keys(session, keys):
            match Status(m.status):
                case Status.SENT:
                    report.sent += 1
                case Status.PENDING | Status.CONNECTING:
                    report.pending += 1
                case Status.FAILED:
                    report.failed += 1
                case Status.UNCERTAIN | Status.SENDING:
                    report.uncertain += 1
    return report


async def _send_each(
    sessions: Sessionmaker, waiting: Sequence[OutboxMessage], mailer: Mailer,
    build: Callable[[OutboxMessage], Awaitable[EmailMessage]], max_attempts: int,
    progress: Callable[[int], None] | None, report: Delivery,
) -> None:
    for done, message in enumerate(waiting):
        if progress is not None:
            progress(done)
        # Built before it is claimed: a message that cannot be built has not gone anywhere.
        email = await build(message)
        async with sessions.begin() as session:
            claimed, attempt = await outbox.claim(session, message.id)
        if claimed is Claim.UNCERTAIN:
            report.newly_uncertain.append(message.key)
            continue
        if claimed is Claim.NONE:
            continue

        async def handing_over(message_id: int = message.id, token: int = attempt) -> bool:
            async with sessions.begin() as session:
                return await outbox.hand_over(session, message_id, token)

        try:
            await mailer.send(email, handing_over)
        except MailTakenOver:
            continue  # another delivery took it over meanwhile: it sends it
        except MailUncertain as e:
            async with sessions.begin() as session:
                await outbox.mark_uncertain(session, message.id, e.summary)
            report.newly_uncertain.append(message.key)
            continue
        except (MailRefused, MailUnavailable) as e:
            async with sessions.begin() as session:
                await outbox.mark_not_sent(session, message.id, e.summary,
                                           isinstance(e, MailRefused), max_attempts, attempt)
            report.errors.append(e.summary)
            continue
        # Anything else leaves it `sending`: whether it went is not known, so never again.
        async with sessions.begin() as session:
            await outbox.mark_sent(session, message.id)

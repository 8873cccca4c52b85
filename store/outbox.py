"""The outbox: each e-mail written down before it is sent, so that it is sent at most once.

A message is inserted once per key (a retry or a replay finds it). Delivering it moves it
pending -> connecting (taken, counting the attempt: the connection, TLS, login, sender and
recipient exchanges) -> sending (committed just before the message itself goes, at DATA) ->
sent. A clean failure puts it back to pending, or failed once the attempts allowed are used up
(or at once if the server refused it for good).

The window in which a message may have gone without the outbox knowing is DATA alone: a
message still `connecting` when a delivery starts never reached the server, so that delivery
takes it over (the attempt count is the taker's token: an earlier delivery still running finds
it taken, and never hands it over); one still `sending` was interrupted mid-send (a worker
crash): it may have gone, so it becomes `uncertain` and is not sent again by itself. The MARS
team then confirms it received, or has it sent again (`resolve`), marked as a resend and with
the same Message-ID. The delivery itself (SMTP, and which failure means what) is the mail
activities' (`activities.delivery`): this module only keeps the states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.dialect import insert
from store.models import Organisation, OutboxMessage, Person


class Status(StrEnum):
    PENDING = "pending"
    CONNECTING = "connecting"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class NewMessage:
    """A message to write to the outbox; `key` makes it the same message on a retry."""

    key: str
    case_id: str
    part: str
    purpose: str
    step: str | None
    person_id: int | None
    to_address: str
    subject: str
    body: str
    message_id: str
    document_ids: list[int] = field(default_factory=list)


async def enqueue(session: AsyncSession, messages: Sequence[NewMessage]) -> None:
    """Insert each message whose key is absent; one already there is left as it is."""
    if not messages:
        return
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {"key": m.key, "case_id": m.case_id, "part": m.part, "purpose": m.purpose,
         "step": m.step, "person_id": m.person_id, "to_address": m.to_address,
         "subject": m.subject, "body": m.body, "document_ids": list(m.document_ids),
         "message_id": m.message_id, "status": Status.PENDING.value, "attempts": 0,
         "created_at": now}
        for m in messages
    ]
    await session.execute(
        insert(session)(OutboxMessage).values(rows).on_conflict_do_nothing(
            index_elements=["key"]))


async def by_keys(session: AsyncSession, keys: Sequence[str]) -> list[OutboxMessage]:
    """The messages with these keys, oldest first."""
    if not keys:
        return []
    rows = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.key.in_(keys))
        .order_by(OutboxMessage.id).execution_options(populate_existing=True))
    return list(rows)


async def keys_under(session: AsyncSession, prefix: str) -> list[str]:
    """The keys of every message under `prefix` (one sending of letters, one alert)."""
    rows = await session.scalars(
        select(OutboxMessage.key).where(OutboxMessage.key.startswith(f"{prefix}/",
                                                                     autoescape=True))
        .order_by(OutboxMessage.id))
    return list(rows)


async def retry_failed(session: AsyncSession, keys: Sequence[str]) -> int:
    """Give the failed messages of `keys` a fresh set of attempts, each to its person's address
    as the directory has it now (a person asked for again, after the MARS team fixed it).
    Uncertain ones stay as they are: they may have gone."""
    retried = 0
    for message in await by_keys(session, keys):
        if message.status != Status.FAILED.value:
            continue
        person = (await session.get(Person, message.person_id)
                  if message.person_id is not None else None)
        if person is None or not person.active:
            continue
        await _move(session, message.id, [Status.FAILED], status=Status.PENDING.value,
                    attempts=0, last_error=None, to_address=person.email)
        retried += 1
    return retried


async def _move(
    session: AsyncSession, message_id: int, from_: Sequence[Status], **values: Any
) -> bool:
    """Change the message only if it is in one of `from_`: atomic on both databases."""
    done = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id,
               OutboxMessage.status.in_([s.value for s in from_]))
        .values(**values).execution_options(synchronize_session=False))
    return bool(getattr(done, "rowcount", 0))


class Claim(StrEnum):
    SEND = "send"  # pending, or left connecting: it is now `connecting`, for this delivery
    UNCERTAIN = "uncertain"  # it was left `sending`: it may have gone, so it never goes again
    NONE = "none"  # sent, failed or uncertain already: nothing to do


async def claim(session: AsyncSession, message_id: int) -> tuple[Claim, int]:
    """Take a pending message (or one an interrupted delivery left connecting: it never
    reached the server) to send it, counting the attempt; mark one interrupted mid-send
    uncertain. Returns the claim and the attempt number, the token `hand_over` needs. The
    caller commits before it connects."""
    if await _move(session, message_id, [Status.PENDING, Status.CONNECTING],
                   status=Status.CONNECTING.value, attempts=OutboxMessage.attempts + 1):
        row = await session.get(OutboxMessage, message_id, populate_existing=True)
        return Claim.SEND, row.attempts if row is not None else 0
    if await _move(session, message_id, [Status.SENDING], status=Status.UNCERTAIN.value,
                   last_error="interrupted while it was being sent: it may have gone"):
        return Claim.UNCERTAIN, 0
    return Claim.NONE, 0


async def hand_over(session: AsyncSession, message_id: int, attempt: int) -> bool:
    """The message is about to go (DATA): `sending` from here, if this delivery still holds
    it (no other has taken it over since). The caller commits before the message goes."""
    done = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.attempts == attempt,
               OutboxMessage.status == Status.CONNECTING.value)
        .values(status=Status.SENDING.value).execution_options(synchronize_session=False))
    return bool(getattr(done, "rowcount", 0))


async def mark_sent(session: AsyncSession, message_id: int) -> None:
    # From uncertain too: another delivery may have given up on it while this one sent it.
    await _move(session, message_id, [Status.SENDING, Status.UNCERTAIN],
                status=Status.SENT.value, sent_at=datetime.now(UTC), last_error=None)


async def mark_uncertain(session: AsyncSession, message_id: int, error: str) -> None:
    """Cut off while it was being handed over: it may have gone, so it never goes again.
    `error`: the mail server's reply or the failure, as the outbox shows it."""
    await _move(session, message_id, [Status.SENDING, Status.CONNECTING],
                status=Status.UNCERTAIN.value, last_error=error)


class Resolution(StrEnum):
    """The MARS team's word on an uncertain message."""

    RECEIVED = "received"  # the recipient has it: sent
    RESEND = "resend"  # send it again, marked as a resend, with the same Message-ID


class NotUncertain(Exception):
    """The message is not (or no longer) uncertain: nothing to resolve."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the message is {status}, not uncertain")
        self.status = status


async def resolve(
    session: AsyncSession, case_id: str, message_id: int, resolution: Resolution
) -> OutboxMessage | None:
    """Settle an uncertain message of the case as the MARS team says; None if the case has no
    such message. Asked again (a retry) after it took effect, it changes nothing."""
    row = await session.get(OutboxMessage, message_id, populate_existing=True)
    if row is None or row.case_id != case_id:
        return None
    if resolution is Resolution.RECEIVED:
        if row.status == Status.SENT.value:
            return row
        moved = await _move(session, message_id, [Status.UNCERTAIN], status=Status.SENT.value,
                            sent_at=datetime.now(UTC),
                            last_error="confirmed received by the MARS team")
    else:
        if row.resend and row.status != Status.UNCERTAIN.value:
            return row  # already sent again (or on its way)
        moved = await _move(session, message_id, [Status.UNCERTAIN],
                            status=Status.PENDING.value, resend=True, attempts=0,
                            last_error=None)
    if not moved:
        raise NotUncertain(row.status)
    await session.refresh(row)
    return row


async def mark_not_sent(
    session: AsyncSession, message_id: int, error: str, refused: bool, max_attempts: int,
    attempt: int | None = None,
) -> Status:
    """After a clean failure (before the message itself went): pending again, or failed if
    `refused` for good or out of attempts. Only while this delivery (`attempt`) still holds it.
    `error`: the mail server's reply or the failure, as the outbox shows it."""
    row = await session.get(OutboxMessage, message_id, populate_existing=True)
    assert row is not None
    if attempt is not None and row.attempts != attempt:
        return Status(row.status)  # taken over by another delivery: its word counts
    give_up = refused or row.attempts >= max_attempts
    status = Status.FAILED if give_up else Status.PENDING
    await _move(session, message_id, [Status.SENDING, Status.CONNECTING], status=status.value,
                last_error=error)
    return status


async def case_mail(
    session: AsyncSession, case_id: str
) -> list[tuple[OutboxMessage, Person | None, Organisation | None]]:
    """Every message of a case, oldest first, with its recipient and their organisation as the
    directory lists them now (None if the person has since been removed)."""
    rows = await session.execute(
        select(OutboxMessage, Person, Organisation)
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .outerjoin(Organisation, Organisation.id == Person.organisation_id)
        .where(OutboxMessage.case_id == case_id)
        .order_by(OutboxMessage.created_at, OutboxMessage.id))
    return [(m, p, o) for m, p, o in rows]

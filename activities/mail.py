"""E-mail from the case: letters to the partners and agencies, reminders and escalations.

Each message goes through the outbox (store/outbox.py), so a retry, a replay or a worker crash
never sends it twice. The case is read from the case store, not passed in: no child's data
travels through Temporal for this. Results carry counts and role/organisation labels only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

import letters as letter_writer
from activities.delivery import Delivery, deliver
from domain.calendar import london_date
from domain.case import CaseState
from domain.mail import (
    MARS_TEAM,
    Audience,
    DeadlineNote,
    DifferenceRef,
    Letters,
    MailOutcome,
    OverdueEscalation,
    PlanReviewReport,
    Text,
    alert_audiences,
    alert_text,
    difference_notice_text,
    dsps,
    letters_plan,
    letters_text,
    level_audiences,
    owner_audience,
    plan_review_audiences,
    plan_review_text,
    review_letter_text,
)
from infra.mailer import Mailer
from infra.settings import Settings, mail_from_address
from store import cases, documents, outbox, tenancy
from store.db import Sessionmaker
from store.directory import partner_names as partner_names_of
from store.directory import recipients
from store.models import AuditEvent, Organisation, OutboxMessage, Person

logger = logging.getLogger("cspr.mail")
# What a workflow should call these activities with. Each message counts its own attempts and
# gives up (failed, shown on the case) after CSPR_MAIL_ATTEMPTS, and the activity then returns:
# the policy only has to outlast that, with room for the case store being briefly away.
# An attempt lost with its worker (a crash, a kill) is seen by its missing heartbeat within
# HEARTBEAT_TIMEOUT and tried again RETRY_POLICY's five seconds later: seconds, not minutes.
# A relay that is away (MailUnavailable) is given time by the error itself (`relay_delay`):
# two minutes, doubling, so with 5 attempts a message waits about half an hour for it.
RETRY_POLICY = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                           maximum_interval=timedelta(minutes=30), maximum_attempts=10,
                           non_retryable_error_types=["ComposeError"])
# The activity heartbeats every HEARTBEAT_EVERY while it runs, and at each message.
HEARTBEAT_TIMEOUT = timedelta(seconds=20)
HEARTBEAT_EVERY = timedelta(seconds=5)
# One attempt sends one sending's messages, one SMTP connection each (CSPR_SMTP_TIMEOUT_SECONDS
# per exchange): only a relay that answers, slowly, for this long cuts an attempt short.
MAIL_TIMEOUT = timedelta(minutes=5)
RELAY_FIRST_DELAY = timedelta(minutes=2)
DOCX = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")


@dataclass(frozen=True)
class MailConfig:
    """What the activities need of the settings."""

    mail_from: str = "Children's MARS team <mars@northlincs.gov.uk>"
    attempts: int = 5
    # Who else an overdue step's e-mail goes to: the service's own rule (domain.mail).
    overdue_escalation: OverdueEscalation = OverdueEscalation.MARS_TEAM_AND_SSLS

    @classmethod
    def from_settings(cls, settings: Settings) -> MailConfig:
        return cls(mail_from=settings.mail_from, attempts=settings.mail_attempts,
                   overdue_escalation=settings.overdue_escalation)


class SendLettersInput(BaseModel):
    case_id: str
    letters: Letters
    # Tells one sending of these letters from another (e.g. the audit event's number): the
    # same sequence is the same sending, and sends nothing twice.
    sequence: int = Field(ge=0)
    agencies: list[str] = []  # agency_requests: the agencies asked for a report
    # The MARS team asked again: messages that failed get a fresh set of attempts (to the
    # address the directory has now); uncertain ones never go again.
    retry_failed: bool = False


class SendLettersResult(BaseModel):
    documents: int  # composed and kept with the case (or found kept)
    messages: int  # one per recipient
    sent: int
    uncertain: int  # interrupted mid-send by a crash: may have gone, never sent again
    failed: int  # refused for good, or out of attempts: the MARS team must act
    missing: list[str]  # roles/organisations with nobody active in the directory: "dsp/health"


class PlanReviewReportInput(BaseModel):
    """An action plan's review as reported (`domain.mail.PlanReviewReport`): numbers and dates."""

    review: int
    held_on: date | None = None  # given by the person recording; else the London date of:
    held_at: datetime
    due_date: date | None = None
    late: bool = False
    oversight: str
    open_actions: int
    overdue_actions: int
    completed_actions: int
    closed_actions: int
    next_review_due: date | None = None
    reported_to: list[str]


class AlertMailInput(BaseModel):
    case_id: str
    part: Literal["case", "local_review", "action_plan"] = "case"
    sequence: int = Field(ge=0)  # the alert's audit event number in its part
    # escalated, raised: a difference of opinion escalated by a person, or raised (its level's
    # people are told; nothing is overdue).
    # review_report: an action plan's review reported to the partners and the Board (`report`).
    kind: Literal["reminder", "overdue", "escalated", "raised", "review_report"]
    step: str
    due_date: date | None = None
    statutory: bool = False
    # The deadline that fired, when the alert names it (patch "alert-deadline", issue 9 item
    # 2): its kind, the statutory date of the same step still to come when a local one passed
    # (`statutory_pending`: one that counts from a date not recorded yet), and whether the
    # step is a statutory duty with no time limit in law (the target is the service's own).
    deadline_kind: Literal["local", "statutory"] | None = None
    statutory_ahead: date | None = None
    statutory_pending: bool = False
    duty_without_limit: bool = False
    # An action plan's action: the organisation that owns it, reminded with the MARS team.
    owner: str | None = None
    # A difference of opinion's alert: which one ("DOO-2") and the level it is for.
    difference_id: str | None = None
    level: str | None = None
    report: PlanReviewReportInput | None = None
    # Its target passed and the service does not refer it up by itself (CSPR_DIFFERENCE_AUTO_
    # REFER off): it stays at `level` until a person refers it.
    held: bool = False


class ReviewLetterInput(BaseModel):
    """One of the LCSPR's own letters (issue 9): written by the service and e-mailed to the
    MARS team and the DSPs, who send it on, as Doc 12 ("via the Children's MARS Team")."""

    case_id: str
    kind: Literal["lcspr_notice", "lcspr_full_report", "lcspr_delay"]
    sequence: int = Field(ge=0)  # the review's event that asked for it: one sending each
    values: dict[str, str] = {}  # the review's dates, reviewer, a delay's reasons


class ResolveMailInput(BaseModel):
    case_id: str
    message_id: int = Field(ge=1)
    outcome: MailOutcome


class ResolvedMail(BaseModel):
    """The message as it is now: where it belongs, and its status (no address, no text)."""

    message_id: int
    key: str
    part: str
    purpose: str
    step: str | None
    status: str


class DeliverMailInput(BaseModel):
    case_id: str
    keys: list[str]


class MailAuditInput(BaseModel):
    """A line of a closed case's mail trail (part "mail"): what became of one message."""

    case_id: str
    kind: str  # mail_resolved, mail_sent, mail_failed
    detail: str  # counts and a message number only, never an address
    actor_subject: str | None = None
    actor_role: str | None = None
    actor_organisation: str | None = None


class AlertMailResult(BaseModel):
    messages: int
    sent: int
    uncertain: int
    failed: int
    missing: list[str]


def _deadline_kind(input: AlertMailInput) -> Literal["local", "statutory"] | None:
    """The deadline an alert is about. An action plan's dates (an action's, a review's) are
    the plan's own, set by the group that runs it: never statutory (issue 9 item 2)."""
    if input.deadline_kind is None and input.part == "action_plan":
        return "local"
    return input.deadline_kind


@dataclass
class _Recipient:
    person: Person
    text: Text
    document_ids: list[int]


class MailActivities:
    def __init__(self, sessions: Sessionmaker, mailer: Mailer, config: MailConfig) -> None:
        self._sessions = sessions
        self._mailer = mailer
        self._config = config
        self._domain = mail_from_address(config.mail_from).rpartition("@")[2] or "cspr"

    @activity.defn(name="send_letters")
    async def send_letters(self, input: SendLettersInput) -> SendLettersResult:
        """Compose and keep a step's letters, and e-mail them to each person responsible."""
        prefix = f"{input.case_id}/{input.letters.value}/{input.sequence}"
        async with _heartbeating(), self._sessions.begin() as session:
            case = await _case(session, input.case_id)
            kept, found, missing = await self._prepare_letters(session, case, input)
            await outbox.enqueue(session, [
                self._message(prefix, input.case_id, "case", "letters", input.letters.value, r)
                for r in found])
            keys = await outbox.keys_under(session, prefix)
            if input.retry_failed:
                await outbox.retry_failed(session, keys)
        async with _heartbeating():
            delivery = await self._deliver(input.case_id, keys)
        return SendLettersResult(documents=kept, messages=len(keys), sent=delivery.sent,
                                 uncertain=delivery.uncertain, failed=delivery.failed,
                                 missing=missing)

    @activity.defn(name="send_review_letter")
    async def send_review_letter(self, input: ReviewLetterInput) -> AlertMailResult:
        """Compose and keep one of the LCSPR's letters, and e-mail it to the MARS team and the
        DSPs, who send it to the national bodies."""
        kind = letter_writer.LetterKind(input.kind)
        prefix = f"{input.case_id}/local_review/{input.sequence}"
        key = f"{prefix}/{kind.value}"
        found: dict[int, _Recipient] = {}
        missing: list[str] = []
        async with _heartbeating(), self._sessions.begin() as session:
            case = await _case(session, input.case_id)
            document = await documents.find_document(session, case.case_id, key)
            if document is None:
                written = await asyncio.to_thread(
                    letter_writer.compose, kind, case, None, london_date(datetime.now(UTC)),
                    None, input.values)
                document = await documents.keep_document(
                    session, case.case_id, key, kind.value, written.filename, written.content)
            text = review_letter_text(case.case_id, kind.value, document.filename)
            partnership = await tenancy.partnership_of(session, input.case_id)
            for audience in (MARS_TEAM, *dsps()):
                people = await recipients(session, audience.role, audience.organisation,
                                          partnership)
                if not people:
                    missing.append(audience.label)
                for person in people:
                    found.setdefault(person.id, _Recipient(person, text, [document.id]))
            await outbox.enqueue(session, [
                self._message(prefix, input.case_id, "local_review", "letters", kind.value, r)
                for r in found.values()])
            keys = await outbox.keys_under(session, prefix)
        async with _heartbeating():
            delivery = await self._deliver(input.case_id, keys)
        return AlertMailResult(messages=len(keys), sent=delivery.sent,
                               uncertain=delivery.uncertain, failed=delivery.failed,
                               missing=missing)

    @activity.defn(name="send_alert_mail")
    async def send_alert_mail(self, input: AlertMailInput) -> AlertMailResult:
        """E-mail a reminder to those responsible for a step, or an escalation once overdue."""
        overdue = input.kind == "overdue"
        async with _heartbeating(), self._sessions.begin() as session:
            # Only the case's own steps need it (who has yet to record); its parts' do not.
            case = await _case(session, input.case_id) if input.part == "case" else None
            difference = (DifferenceRef(input.difference_id, input.level or "", input.held)
                          if input.difference_id is not None else None)
            text = alert_text(input.case_id, case, input.step, overdue, input.due_date,
                              input.statutory, difference,
                              DeadlineNote(_deadline_kind(input), input.statutory_ahead,
                                           input.statutory_pending, input.duty_without_limit),
                              self._config.overdue_escalation)
            found: dict[int, _Recipient] = {}
            missing: list[str] = []
            audiences = alert_audiences(case, input.step, overdue,
                                        self._config.overdue_escalation)
            if difference is not None and input.kind in ("escalated", "raised"):
                text = difference_notice_text(input.case_id, difference, input.kind)
                audiences = level_audiences(difference.level)
            if input.kind == "review_report" and input.report is not None:
                given = input.report
                report = PlanReviewReport(**{
                    **given.model_dump(exclude={"held_at"}),
                    "held_on": given.held_on or london_date(given.held_at),
                    "reported_to": tuple(given.reported_to)})
                text = plan_review_text(input.case_id, report)
                audiences = plan_review_audiences(report.reported_to)
            # The case's partnership's directory only (store.tenancy).
            partnership = await tenancy.partnership_of(session, input.case_id)
            if input.owner is not None:
                owner = await session.scalar(select(Organisation).where(
                    func.lower(Organisation.name) == input.owner.lower(),
                    Organisation.partnership == partnership))
                if owner is None:
                    missing.append(f"owner/{input.owner}")
                else:
                    audiences.insert(0, owner_audience(owner.kind, owner.name))
            for audience in audiences:
                people = await recipients(session, audience.role, audience.organisation,
                                          partnership)
                if not people:
                    missing.append(audience.label)
                for person in people:
                    found.setdefault(person.id, _Recipient(person, text, []))
            prefix = f"{input.case_id}/{input.part}/{input.sequence}"
            await outbox.enqueue(session, [
                self._message(prefix, input.case_id, input.part, input.kind, input.step, r)
                for r in found.values()])
            # All of this alert's messages, also those written by an earlier attempt to
            # someone the directory no longer lists: decided once, delivered once.
            keys = await outbox.keys_under(session, prefix)
        async with _heartbeating():
            delivery = await self._deliver(input.case_id, keys)
        return AlertMailResult(messages=len(keys), sent=delivery.sent,
                               uncertain=delivery.uncertain, failed=delivery.failed,
                               missing=missing)

    @activity.defn(name="audit_mail")
    async def audit_mail(self, input: MailAuditInput) -> None:
        """A line in a closed case's audit trail (part "mail"), once: a retry after it was
        written finds it and adds nothing."""
        async with self._sessions.begin() as session:
            await audit_mail_line(session, input, datetime.now(UTC))

    @activity.defn(name="resolve_mail")
    async def resolve_mail(self, input: ResolveMailInput) -> ResolvedMail:
        """Settle an uncertain message as the MARS team says: sent (received), or pending
        again to be sent as a resend."""
        async with self._sessions.begin() as session:
            try:
                row = await outbox.resolve(session, input.case_id, input.message_id,
                                           outbox.Resolution(input.outcome.value))
            except outbox.NotUncertain as e:
                raise ApplicationError(str(e), {"status": e.status}, type="MailNotUncertain",
                                       non_retryable=True) from None
            if row is None:
                raise ApplicationError(f"case {input.case_id} has no message "
                                       f"{input.message_id}", type="MailNotFound",
                                       non_retryable=True)
            return ResolvedMail(message_id=row.id, key=row.key, part=row.part,
                                purpose=row.purpose, step=row.step, status=row.status)

    @activity.defn(name="deliver_mail")
    async def deliver_mail(self, input: DeliverMailInput) -> AlertMailResult:
        """Deliver messages already in the outbox (one the MARS team has sent again)."""
        async with _heartbeating():
            delivery = await self._deliver(input.case_id, input.keys)
        return AlertMailResult(messages=len(input.keys), sent=delivery.sent,
                               uncertain=delivery.uncertain, failed=delivery.failed,
                               missing=[])

    async def _prepare_letters(
        self, session: AsyncSession, case: CaseState, input: SendLettersInput
    ) -> tuple[int, list[_Recipient], list[str]]:
        """Keep each document once, and find who gets which: (documents, recipients, missing)."""
        plan = letters_plan(input.letters, input.agencies)
        kept: dict[str, tuple[int, str, str]] = {}  # key -> (document id, kind, filename)
        found: dict[int, _Recipient] = {}
        missing: list[str] = []
        issued_on = london_date(datetime.now(UTC))
        # Doc 4 names the partners as the directory does (issue 9), read once for the sending.
        partner_names = await partner_names_of(session)
        partnership = await tenancy.partnership_of(session, case.case_id)
        for mailing in plan:
            audience = mailing.audience
            people = await recipients(session, audience.role, audience.organisation,
                                      partnership)
            if not people:
                missing.append(audience.label)
            for letter in mailing.letters:
                key = letter.key(input.letters, input.sequence)
                if key in kept:
                    continue
                # Kept by an earlier attempt: the letter sent is the letter kept.
                document = await documents.find_document(session, case.case_id, key)
                if document is not None:
                    kept[key] = (document.id, document.kind, document.filename)
                    continue
                addressee = None
                if letter.addressed_to is not None:
                    addressee = await _addressee(session, letter.addressed_to, people)
                kind = letter_writer.LetterKind(letter.kind)
                try:
                    # Composed off the event loop: python-docx is CPU work.
                    written = await asyncio.to_thread(letter_writer.compose, kind, case,
                                                      addressee, issued_on, partner_names)
                except letter_writer.ComposeError as e:
                    # The case does not hold what the letter needs: a retry will not change
                    # that. Nothing is sent (the transaction rolls back); the field and reason
                    # name no child's data.
                    raise ApplicationError(f"{kind.value}: {e.field}: {e.reason}",
                                           type="ComposeError", non_retryable=True) from None
                document = await documents.keep_document(
                    session, case.case_id, key, kind.value, written.filename, written.content)
                kept[key] = (document.id, document.kind, document.filename)
            attached = [kept[letter.key(input.letters, input.sequence)]
                        for letter in mailing.letters]
            text = letters_text(case, input.letters, mailing, [(k, f) for _, k, f in attached],
                                today=london_date(datetime.now(UTC)))
            for person in people:
                recipient = found.setdefault(person.id, _Recipient(person, text, []))
                recipient.document_ids += [i for i, _, _ in attached
                                           if i not in recipient.document_ids]
        return len(kept), list(found.values()), missing

    def _key(self, prefix: str, person: Person) -> str:
        return f"{prefix}/person-{person.id}"

    def _message(self, prefix: str, case_id: str, part: str, purpose: str, step: str | None,
                 r: _Recipient) -> outbox.NewMessage:
        key = self._key(prefix, r.person)
        # The same Message-ID on every try: a server that has seen it may drop a duplicate.
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return outbox.NewMessage(
            key=key, case_id=case_id, part=part, purpose=purpose, step=step,
            person_id=r.person.id, to_address=r.person.email, subject=r.text.subject,
            body=r.text.body, message_id=f"<{digest}@{self._domain}>",
            document_ids=r.document_ids)

    async def _build(self, row: OutboxMessage) -> EmailMessage:
        """The e-mail of an outbox row, with its documents attached."""
        message = EmailMessage()
        message["From"] = self._config.mail_from
        message["To"] = Address(addr_spec=row.to_address)
        message["Subject"] = f"Resent: {row.subject}" if row.resend else row.subject
        # The same Message-ID: the recipient's mail system can tell it is the same message.
        message["Message-ID"] = row.message_id
        message["Date"] = format_datetime(row.created_at)
        body = row.body
        if row.resend:
            # RFC 5322 3.6.6: a message sent again keeps its fields and adds Resent-* ones.
            message["Resent-Date"] = format_datetime(datetime.now(UTC))
            message["Resent-From"] = self._config.mail_from
            body = (f"{_RESENT_NOTE}\n\n{body}")
        message.set_content(body)
        async with self._sessions() as session:
            for document in await documents.documents(session, row.document_ids):
                message.add_attachment(document.content, maintype=DOCX[0], subtype=DOCX[1],
                                       filename=document.filename)
        return message

    async def _deliver(self, case_id: str, keys: list[str]) -> Delivery:
        delivery = await deliver(self._sessions, keys, self._mailer, self._build,
                                        self._config.attempts, progress=_progress)
        if delivery.newly_uncertain:
            # A crash mid-send: the MARS team sees these as uncertain on the case's mail list.
            logger.warning("case %s: %d message(s) interrupted mid-send, not sent again",
                           case_id, len(delivery.newly_uncertain))
        if delivery.pending:
            # Recorded (attempts, last error) before raising: the activity's retry policy
            # tries again, and a message out of attempts is marked failed, not retried.
            raise ApplicationError(
                f"{delivery.pending} of {len(keys)} message(s) not delivered yet: "
                + "; ".join(dict.fromkeys(delivery.errors)), type="MailUnavailable",
                next_retry_delay=relay_delay(
                    activity.info().attempt if activity.in_activity() else 1))
        return delivery


def relay_delay(attempt: int) -> timedelta:
    """How long to give a relay that is away before the next attempt: 2, 4, 8... minutes,
    at most RETRY_POLICY's maximum interval."""
    cap = RETRY_POLICY.maximum_interval or RELAY_FIRST_DELAY
    doublings = int(2 ** max(0, min(attempt - 1, 16)))
    return min(RELAY_FIRST_DELAY * doublings, cap)


@asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeat while the attempt runs: its worker gone, Temporal knows within seconds (an
    attempt that does not heartbeat is only given up at MAIL_TIMEOUT)."""
    if not activity.in_activity():  # called directly (tests)
        yield
        return

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY.total_seconds())

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()


def _progress(done: int) -> None:
    """A message handled: heartbeat with how many (an activity's own detail, no address)."""
    if activity.in_activity():
        activity.heartbeat(done)


async def _case(session: AsyncSession, case_id: str) -> CaseState:
    snapshot = await cases.case_snapshot(session, case_id)
    if snapshot is None:
        # Retryable: the workflow projects the case before it sends; a lagging store catches up.
        raise ApplicationError(f"case {case_id} is not in the case store yet",
                               type="CaseNotStored")
    return CaseState.model_validate(snapshot)


async def _addressee(
    session: AsyncSession, audience: Audience, people: list[Person]
) -> letter_writer.Addressee:
    """Whom a letter is addressed to: the people listed for the organisation, by name (by
    their role's title if there are none, or too many to name)."""
    organisation = audience.organisation or ""
    if people:
        found = await session.scalar(
            select(Organisation.name).where(Organisation.id == people[0].organisation_id))
        organisation = found or organisation
    title = _ROLE_TITLES[audience.role.value]
    names = " and ".join(p.name for p in people)
    return letter_writer.Addressee(name=names if 0 < len(names) <= _NAME_MAX else title,
                                   organisation=organisation, role=title)


_RESENT_NOTE = ("This message is sent again: an earlier sending was cut off and may not have "
                "reached you. If you already have it, nothing more is needed.")
_NAME_MAX = 200  # domain.notification.Name, as letters.Addressee takes it
_ROLE_TITLES = {
    "dsp": "Delegated Safeguarding Partner",
    "ssl": "Safeguarding Senior Lead",
    "agency": "Agency lead",
    "mars_team": "Children's MARS team",
}


MAIL_PART = "mail"  # a closed case's trail of the e-mail settled after it closed


async def audit_mail_line(session: AsyncSession, line: MailAuditInput, at: datetime) -> None:
    """Write `line` under the case's "mail" part unless the same line is there already."""
    same = await session.scalar(select(AuditEvent.id).where(
        AuditEvent.case_id == line.case_id, AuditEvent.part == MAIL_PART,
        AuditEvent.kind == line.kind, AuditEvent.detail == line.detail))
    if same is not None:
        return
    last = await session.scalar(select(func.max(AuditEvent.sequence)).where(
        AuditEvent.case_id == line.case_id, AuditEvent.part == MAIL_PART)) or 0
    session.add(AuditEvent(case_id=line.case_id, part=MAIL_PART, sequence=last + 1, at=at,
                           kind=line.kind, step=None, detail=line.detail, channel="api",
                           actor_subject=line.actor_subject, actor_role=line.actor_role,
                           actor_organisation=line.actor_organisation))

"""SQLAlchemy models of the case store. Temporal holds a running case; this holds it for years."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    TIMESTAMP,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

Json = JSON().with_variant(JSONB(), "postgresql")


class _Instant(TypeDecorator[datetime]):
    """A point in time, kept in UTC and read back with its zone on every store: SQLite (make
    run's) drops the zone, and a naive time cannot be compared with an aware one."""

    impl = TIMESTAMP(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect  # noqa: ARG002
                           ) -> datetime | None:
        if value is None or value.tzinfo is None:  # naive: taken as UTC, as PostgreSQL does
            return value
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect  # noqa: ARG002
                             ) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


Instant = _Instant()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class Case(Base):
    """A case as the workflow last projected it; `snapshot` is the whole case state."""

    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    procedure_version: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(32), index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))
    overdue: Mapped[bool] = mapped_column(Boolean, index=True)
    next_deadline: Mapped[datetime | None] = mapped_column(Instant, index=True)
    received_at: Mapped[datetime] = mapped_column(Instant, index=True)
    incident_date: Mapped[date | None] = mapped_column(Date)  # a request has none
    possible_duplicate_of: Mapped[list[str]] = mapped_column(Json, default=list)
    # The number of events the projection has applied: a stale write never overwrites a newer.
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(Instant)

    children: Mapped[list[Child]] = relationship(lazy="raise", order_by="Child.position")
    steps: Mapped[list[CaseStep]] = relationship(lazy="raise")


class Child(Base):
    """A child named in a notification (up to four)."""

    __tablename__ = "children"
    __table_args__ = (UniqueConstraint("case_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(64), index=True)
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    looked_after: Mapped[bool | None] = mapped_column(Boolean)
    care_leaver: Mapped[bool | None] = mapped_column(Boolean)


class CaseStep(Base):
    """One step of a case, for the lists of what falls due."""

    __tablename__ = "case_steps"

    case_id: Mapped[str] = mapped_column(
        ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[str] = mapped_column(String(40), primary_key=True)
    due_date: Mapped[date | None] = mapped_column(Date, index=True)
    statutory: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), index=True)
    completed_on: Mapped[date | None] = mapped_column(Date)


class CasePart(Base):
    """A child workflow of a case (its LCSPR, its action plan) as it last projected itself."""

    __tablename__ = "case_parts"

    case_id: Mapped[str] = mapped_column(
        ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    part: Mapped[str] = mapped_column(String(32), primary_key=True)
    stage: Mapped[str] = mapped_column(String(40), index=True)
    overdue: Mapped[bool] = mapped_column(Boolean, index=True)
    next_deadline: Mapped[datetime | None] = mapped_column(Instant, index=True)
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(Instant)


class PartDeadline(Base):
    """An open deadline of a case's LCSPR or action plan (store.part_deadlines), written with
    the part's projection (activities.case_store.project_part): what `/v1/deadlines` and the
    case lists' due filters query by date, rather than every part's snapshot."""

    __tablename__ = "part_deadlines"

    case_id: Mapped[str] = mapped_column(
        ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True)
    part: Mapped[str] = mapped_column(String(32), primary_key=True)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    statutory: Mapped[bool] = mapped_column(Boolean)
    overdue: Mapped[bool] = mapped_column(Boolean)


class AuditEvent(Base):
    """The append-only audit trail: who did what to a case, when, and through which channel."""

    __tablename__ = "audit_events"
    # The due dates a calendar change moved, newest first (store.calendar.moves).
    __table_args__ = (UniqueConstraint("case_id", "part", "sequence"),
                      Index("ix_audit_events_kind_at", "kind", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="RESTRICT"),
                                         index=True)
    # Which workflow of the case wrote it: the case itself, its LCSPR or its action plan.
    part: Mapped[str] = mapped_column(String(32), server_default="case")
    sequence: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(Instant)
    kind: Mapped[str] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    actor_subject: Mapped[str | None] = mapped_column(String(200))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    actor_organisation: Mapped[str | None] = mapped_column(String(200))


class CaseNumber(Base):
    """The last case number given out in a year: CSPR-2026-0007 is the seventh of 2026."""

    __tablename__ = "case_numbers"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class Organisation(Base):
    """A partner or agency in the directory that letters and reminders go to."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # partner or agency
    partner: Mapped[str | None] = mapped_column(String(32))  # local_authority, health, police
    # The safeguarding partnership whose directory lists it (store.tenancy).
    partnership: Mapped[str] = mapped_column(String(64), index=True, default="default",
                                             server_default="default")

    people: Mapped[list[Person]] = relationship(lazy="raise")


class Person(Base):
    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(32))  # mars_team, ssl, dsp, agency, ...
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class IdempotencyRecord(Base):
    """The answer given to a POST with an Idempotency-Key, returned again for a repeat."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    method_path: Mapped[str] = mapped_column(String(300))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(Instant)
    # While in progress: a repeat may take the key over once this has passed (a crash's claim).
    lease_until: Mapped[datetime | None] = mapped_column(Instant)
    # The case this key's request opens, bound before its workflow starts.
    case_id: Mapped[str | None] = mapped_column(String(32))


class CaseDocument(Base):
    """A letter or form the service wrote for a case (.docx), kept with the case for good."""

    __tablename__ = "case_documents"
    __table_args__ = (UniqueConstraint("case_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="RESTRICT"),
                                         index=True)
    # What makes it the same document on a retry: e.g. "inform_partners/doc2/health".
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))  # doc2, doc3, doc4, rapid_review_request, ...
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(Instant)


class OutboxMessage(Base):
    """One e-mail to one address, written before it is sent so that it is sent at most once.

    status: pending (not yet sent, or a send failed and will be tried again), connecting (taken
    by a delivery, not yet handed over: a crash here puts it back to pending), sending (being
    handed to the SMTP server; a crash here leaves it so, and it is never sent again by
    itself: `uncertain`), sent, failed (gave up after the attempts allowed), uncertain (may or
    may not have gone: the MARS team confirms it received or has it sent again, `resend`).
    """

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The same message on a retry or a replay: e.g. "CSPR-2026-0001/case/12/person-4".
    key: Mapped[str] = mapped_column(String(300))
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="RESTRICT"),
                                         index=True)
    part: Mapped[str] = mapped_column(String(32), server_default="case")
    purpose: Mapped[str] = mapped_column(String(40))  # letters, reminder, overdue, ...
    step: Mapped[str | None] = mapped_column(String(40))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    document_ids: Mapped[list[int]] = mapped_column(Json, default=list)
    message_id: Mapped[str] = mapped_column(String(300))  # the RFC 5322 Message-ID it carries
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)  # the SMTP reply, never the message
    created_at: Mapped[datetime] = mapped_column(Instant)
    sent_at: Mapped[datetime | None] = mapped_column(Instant)
    # Sent again at the MARS team's word after it may not have gone: marked as such (Resent-*
    # headers, the subject), with the same Message-ID.
    resend: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CalendarChange(Base):
    """A bank holiday an operator added (one announced late) or removed (one moved away)."""

    __tablename__ = "calendar_changes"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    change: Mapped[str] = mapped_column(String(16))  # added or removed
    name: Mapped[str] = mapped_column(String(200))
    made_by: Mapped[str] = mapped_column(String(200))
    made_at: Mapped[datetime] = mapped_column(Instant)


class ReviewerAssignment(Base):
    """A reviewer assigned to a case's LCSPR (issue 9, item 8): the reviewer's token (its
    `sub`) reads and records for the cases it is assigned to, no other."""

    __tablename__ = "reviewer_assignments"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="RESTRICT"),
                                         primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    assigned_at: Mapped[datetime] = mapped_column(Instant)
    assigned_by: Mapped[str] = mapped_column(String(200))


class CalendarFeed(Base):
    """A person's private calendar feed: its secret is in the feed's URL; only its hash is
    kept, and a new one revokes the old. Role, organisation and partnership as when they made
    it: the feed has the partnership's cases only."""

    __tablename__ = "calendar_feeds"

    subject: Mapped[str] = mapped_column(String(320), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    organisation: Mapped[str | None] = mapped_column(String(200))
    partnership: Mapped[str] = mapped_column(String(64), server_default="default")
    created_at: Mapped[datetime] = mapped_column(Instant)


class Meeting(Base):
    """A meeting booked for a case (the rapid review meeting, an LCSPR panel meeting), for the
    calendar feeds: when and where, who booked it. Nothing about the child."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"),
                                         index=True)
    kind: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(Instant, index=True)
    ends_at: Mapped[datetime] = mapped_column(Instant)
    place: Mapped[str] = mapped_column(String(200))
    booked_by: Mapped[str] = mapped_column(String(320))
    booked_at: Mapped[datetime] = mapped_column(Instant)


class CasePartnership(Base):
    """The safeguarding partnership a case belongs to (store.tenancy): written by the API in
    the transaction that numbers the case, before its workflow starts, and never changed. A
    case without a row belongs to the default partnership. Not a column of `cases`: that row is
    the projection of the workflow's state, which does not hold the partnership."""

    __tablename__ = "case_partnerships"

    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    partnership: Mapped[str] = mapped_column(String(64), index=True)


class ProjectionOwed(Base):
    """A workflow's projection the case store did not take (down, or refusing the value): the
    stored copy of that part of the case is behind until a projection of at least `version`
    is written (store.owed). No foreign key: a case's first projection may be the one owed."""

    __tablename__ = "projections_owed"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    part: Mapped[str] = mapped_column(String(32), primary_key=True)  # "case", "local_review", ...
    version: Mapped[int] = mapped_column(Integer)  # the projection's that failed
    since: Mapped[datetime] = mapped_column(Instant)


# The case lists' indexes (store.cases.case_list; migration 0016): the newest-first order with
# each filter, and one with every filtered column that a count reads instead of the rows.
Index("ix_cases_newest_first", Case.received_at.desc(), Case.case_id,
      postgresql_include=["stage", "kind", "overdue"])
Index("ix_cases_stage_newest_first", Case.stage, Case.received_at.desc(), Case.case_id)
Index("ix_cases_kind_newest_first", Case.kind, Case.received_at.desc(), Case.case_id)
Index("ix_cases_overdue_newest_first", Case.overdue, Case.received_at.desc(), Case.case_id)
Index("ix_case_steps_status_due_date", CaseStep.status, CaseStep.due_date, CaseStep.case_id)
Index("ix_part_deadlines_due_date_case_id", PartDeadline.due_date, PartDeadline.case_id)
Index("ix_case_parts_overdue_case_id", CasePart.overdue, CasePart.case_id)

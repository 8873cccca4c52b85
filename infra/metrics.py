"""The service's own metrics over the case store (Prometheus gauges), and the worker's endpoint.

The gauges are counted from the store, not by counters in the workflows: the store is the
record (a replayed or retried workflow cannot count twice), and every worker reports the same
numbers (the alert rules take `max` over instances). A background task counts them again
every `interval` seconds; Prometheus reads the last count. Labels are of low cardinality
(a kind, a stage, a status): never a case id or a person.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from activities.case_store import ProjectionCounts
from store.db import Sessionmaker
from store.models import AuditEvent, Case, CasePart, CaseStep, OutboxMessage

log = logging.getLogger("cspr.metrics")
# Still to go out: pending, or handed to the SMTP server and not yet confirmed.
_WAITING = ("pending", "sending")


@dataclass
class StoreCounts:
    """One count of the store; the collector reports the last one."""

    cases: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, stage)
    overdue_steps: dict[str, int] = field(default_factory=dict)  # statutory or local
    overdue_parts: dict[str, int] = field(default_factory=dict)  # lcspr, action_plan, ...
    emails: dict[tuple[str, str], int] = field(default_factory=dict)  # (purpose, status)
    events: dict[str, int] = field(default_factory=dict)  # audit trail, by kind
    oldest_waiting_email: datetime | None = None
    counted_at: float = 0.0  # Unix time; 0 if never counted
    ok: bool = False


async def count(sessions: Sessionmaker) -> StoreCounts:
    """Count the store once (one read-only transaction)."""
    counts = StoreCounts()
    async with sessions() as session:
        by_stage = await session.execute(
            select(Case.kind, Case.stage, func.count()).group_by(Case.kind, Case.stage))
        counts.cases = {(kind, stage): n for kind, stage, n in by_stage}
        by_duty = await session.execute(
            select(CaseStep.statutory, func.count())
            .join(Case, Case.case_id == CaseStep.case_id)
            .where(CaseStep.status == "overdue", Case.stage != "closed")
            .group_by(CaseStep.statutory))
        counts.overdue_steps = {"statutory" if statutory else "local": n
                                for statutory, n in by_duty}
        by_part = await session.execute(
            select(CasePart.part, func.count()).join(Case, Case.case_id == CasePart.case_id)
            .where(CasePart.overdue.is_(True), Case.stage != "closed").group_by(CasePart.part))
        counts.overdue_parts = {part: n for part, n in by_part}  # noqa: C416
        by_status = await session.execute(
            select(OutboxMessage.purpose, OutboxMessage.status, func.count())
            .group_by(OutboxMessage.purpose, OutboxMessage.status))
        counts.emails = {(purpose, status): n for purpose, status, n in by_status}
        counts.oldest_waiting_email = await session.scalar(
            select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status.in_(_WAITING)))
        by_kind = await session.execute(
            select(AuditEvent.kind, func.count()).group_by(AuditEvent.kind))
        counts.events = {kind: n for kind, n in by_kind}  # noqa: C416
    counts.counted_at = time.time()
    counts.ok = True
    return counts


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


class StoreCollector(Collector):
    """Reports the last `StoreCounts` as gauges."""

    def __init__(self) -> None:
        self.last = StoreCounts()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        c = self.last
        up = _gauge("cspr_store_up", "1 if the last count of the case store succeeded")
        up.add_metric([], 1 if c.ok else 0)
        yield up
        at = _gauge("cspr_store_counted_at_seconds", "When the case store was last counted")
        at.add_metric([], c.counted_at)
        yield at
        cases = _gauge("cspr_cases", "Cases in the store, by kind and stage", ["kind", "stage"])
        for (kind, stage), n in sorted(c.cases.items()):
            cases.add_metric([kind, stage], n)
        yield cases
        steps = _gauge("cspr_steps_overdue", "Open cases' steps past their due date, statutory "
                       "(set by law or national guidance) or local", ["duty"])
        for duty in ("statutory", "local"):
            steps.add_metric([duty], c.overdue_steps.get(duty, 0))
        yield steps
        parts = _gauge("cspr_case_parts_overdue",
                       "Open cases' LCSPRs and action plans with an overdue step", ["part"])
        for part, n in sorted(c.overdue_parts.items()):
            parts.add_metric([part], n)
        yield parts
        emails = _gauge("cspr_emails", "E-mails in the outbox, by purpose and status (pending, "
                        "sending, sent, failed, uncertain)", ["purpose", "status"])
        for (purpose, status), n in sorted(c.emails.items()):
            emails.add_metric([purpose, status], n)
        yield emails
        age = _gauge("cspr_outbox_oldest_pending_age_seconds",
                     "Age of the oldest e-mail not yet sent (0 if none)")
        oldest = c.oldest_waiting_email
        if oldest is not None and oldest.tzinfo is None:  # SQLite keeps no zone: stored as UTC
            oldest = oldest.replace(tzinfo=UTC)
        age.add_metric([], 0 if oldest is None else
                       max(0.0, (datetime.now(UTC) - oldest).total_seconds()))
        yield age
        events = _gauge("cspr_case_events", "Audit trail entries by kind (reminder, overdue, "
                        "difference_escalated, mail_failed, ...)", ["kind"])
        for kind, n in sorted(c.events.items()):
            events.add_metric([kind], n)
        yield events


# The reasons a projection fails (activities.case_store): refused (a value the store will not
# take; not retried, the case shows projection_failed) or unavailable (the store down; retried).
PROJECTION_FAILURE_REASONS = ("refused", "unavailable")


class ProjectionCollector(Collector):
    """This worker's projection failures since it started, as a counter: unlike the gauges, each
    worker counts its own (the alert rules `sum` them over instances)."""

    def __init__(self, counts: ProjectionCounts) -> None:
        self.counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        failures = CounterMetricFamily(
            "cspr_projection_failures", "Case store projections (project_case, project_part) "
            "that failed in this worker, by part (case, local_review, action_plan) and reason "
            "(refused: a value the store will not take, not retried; unavailable: retried)",
            labels=["part", "reason"])
        by_part = dict(self.counts.by_part)
        for reason in PROJECTION_FAILURE_REASONS:  # always present, so that rate() starts at 0
            by_part.setdefault(("case", reason), 0)
        for (part, reason), n in sorted(by_part.items()):
            failures.add_metric([part, reason], n)
        yield failures


class StoreMetrics:
    """The store's gauges in a registry, counted again every `interval` seconds by `run()`, and
    this worker's projection failures (`projections`) if given."""

    def __init__(self, sessions: Sessionmaker, registry: CollectorRegistry | None = None,
                 interval: float = 15.0, projections: ProjectionCounts | None = None) -> None:
        self.sessions = sessions
        self.interval = interval
        self.registry = registry or CollectorRegistry()
        self.collector = StoreCollector()
        self.registry.register(self.collector)
        if projections is not None:
            self.registry.register(ProjectionCollector(projections))

    async def refresh(self) -> None:
        try:
            self.collector.last = await count(self.sessions)
        except (SQLAlchemyError, OSError) as e:
            # The last good count stays, marked as stale: cspr_store_up 0 raises an alert.
            self.collector.last.ok = False
            log.warning("case store not counted: %s", type(e).__name__)

    async def run(self) -> None:
        """Count again every interval until cancelled."""
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval)

"""Writing a case's projection and audit trail to the case store, idempotently.

A retried or replayed activity writes nothing twice: the case row only moves forward (its
version is the workflow's history length when it projected), audit rows are keyed by their
sequence in the case, and children are written once, when the case is first stored.

A write the database refuses never shows its SQL parameters (the case snapshot, a child's
details): the engine hides them (`store.db`), and the error raised here names only the
database's error class and SQLSTATE. A refused value (SQLSTATE classes 22 and 23: a value too
long, a character the database cannot store) is `ProjectionRefused`, which the case workflow's
retry policy does not retry (the same write is refused again: `workflows.projection`); anything
else (the store down) is `StoreUnavailable`, retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.calendar import london_date
from domain.case import CaseEvent, CaseState
from store import owed
from store.db import Sessionmaker
from store.models import AuditEvent, Case, CasePart, CaseStep, Child, PartDeadline
from store.part_deadlines import part_items


class ProjectionInput(BaseModel):
    case: CaseState
    version: int


class ProjectionResult(BaseModel):
    """Other cases for the same child and incident date: likely duplicates of this one."""

    possible_duplicates: list[str] = []


class PartProjectionInput(BaseModel):
    """A child workflow of a case (its LCSPR, its action plan) as it is now."""

    case_id: str
    part: str  # e.g. "local_review", "action_plan"
    version: int  # the child's history length: a stale write never overwrites a newer
    stage: str
    overdue: bool
    next_deadline: AwareDatetime | None
    snapshot: dict[str, Any]
    events: list[CaseEvent]  # the child's events from first_sequence on; new ones join the trail
    # The trail number of events[0]: a child that runs for years (continuing as new) sends
    # only its latest events.
    first_sequence: int = Field(1, ge=1)


logger = logging.getLogger("cspr.case_store")
# SQLSTATE classes of a value the database will not store: data exception (too long, a NUL),
# integrity constraint violation. The same write fails the same way every time.
_REFUSED_SQLSTATES = ("22", "23")


@dataclass
class ProjectionCounts:
    """Projections the case store refused or could not take, since the worker started, by
    part (case, local_review, action_plan): exported by the worker as
    `cspr_projection_failures_total{part,reason}` (infra.metrics.ProjectionCollector)."""

    refused: int = 0
    failed: int = 0
    by_part: dict[tuple[str, str], int] = field(default_factory=dict)  # (part, reason) -> n

    def add(self, part: str, reason: str) -> None:
        """Count one failure; reason is "refused" (not retried) or "unavailable" (retried)."""
        if reason == "refused":
            self.refused += 1
        else:
            self.failed += 1
        self.by_part[(part, reason)] = self.by_part.get((part, reason), 0) + 1


# How often the worker tries to note its owed projections while the store does not answer.
NOTE_OWED_EVERY = 2.0


class CaseStoreActivities:
    def __init__(self, sessions: Sessionmaker, counts: ProjectionCounts | None = None) -> None:
        self._sessions = sessions
        self.counts = counts if counts is not None else ProjectionCounts()
        # Projections not written, to be noted in the store (store.owed) once it answers.
        self._owed: dict[tuple[str, str], int] = {}
        self._noting: asyncio.Task[None] | None = None

    @activity.defn(name="project_case")
    async def project_case(self, input: ProjectionInput) -> ProjectionResult:
        """Store the case as the workflow sees it now, with its new audit events."""
        case_id = input.case.case_id
        async with self._writing(case_id, owed.CASE, input.version), \
                self._sessions.begin() as session:
            result = await project(session, input.case, input.version)
            await owed.clear(session, case_id, owed.CASE, input.version)
            return result

    @activity.defn(name="project_part")
    async def project_part(self, input: PartProjectionInput) -> None:
        """Store a child workflow of the case (LCSPR, action plan) and its new audit events."""
        async with self._writing(input.case_id, input.part, input.version), \
                self._sessions.begin() as session:
            await project_part(session, input)
            await owed.clear(session, input.case_id, input.part, input.version)

    def _owe(self, case_id: str, part: str, version: int) -> None:
        """Remember a projection not written, and note it in the store as soon as it answers:
        until the workflow writes it again (at its next change, or its retry), reads of that
        part ask the workflow (api.workflow_calls), not the stored copy."""
        key = (case_id, part)
        self._owed[key] = max(version, self._owed.get(key, version))
        if self._noting is None or self._noting.done():
            self._noting = asyncio.get_running_loop().create_task(self._note_owed())

    async def _note_owed(self) -> None:
        while self._owed:
            noting = dict(self._owed)
            try:
                async with self._sessions.begin() as session:
                    await owed.note(session, noting, datetime.now(UTC))
            except Exception as e:
                state = sqlstate(e) if isinstance(e, DBAPIError) else None
                if state is not None and state.startswith(_REFUSED_SQLSTATES):
                    # Refused for good (it will not take it on another try): the reads of
                    # these cases keep the stored copy, as before this note existed.
                    logger.error("projections owed not noted: the store refused them (%s)",
                                 state)
                    for key in noting:
                        self._owed.pop(key, None)
                    continue
                logger.info("projections owed not noted yet (%s)", type(e).__name__)
                await asyncio.sleep(NOTE_OWED_EVERY)  # the store still down: again shortly
                continue
            for key, version in noting.items():
                if self._owed.get(key) == version:
                    del self._owed[key]

    @asynccontextmanager
    async def _writing(self, case_id: str, part: str, version: int) -> AsyncIterator[None]:
        """A database error as an error that names no value (nor the SQL's parameters); the
        projection noted as owed."""
        try:
            yield
        except OSError:  # no connection to the store at all (refused, reset)
            self._owe(case_id, part, version)
            raise
        except DBAPIError as e:
            self._owe(case_id, part, version)
            state = sqlstate(e)
            name = type(e.orig).__name__ if e.orig is not None else type(e).__name__
            # `from None`: the database's own message may quote a value, and the worker logs
            # an activity's failure with its causes.
            if state is not None and state.startswith(_REFUSED_SQLSTATES):
                self.counts.add(part, "refused")
                logger.error("case %s: the case store refused the %s projection (%s, "
                             "SQLSTATE %s)", case_id, part, name, state)
                raise ApplicationError(
                    f"the case store refused the {part} projection ({name}, SQLSTATE {state})",
                    {"sqlstate": state}, type="ProjectionRefused") from None
            self.counts.add(part, "unavailable")
            logger.warning("case %s: the case store could not take the %s projection (%s)",
                           case_id, part, name)
            raise ApplicationError(
                f"the case store could not take the {part} projection ({name})",
                type="StoreUnavailable") from None


def sqlstate(error: DBAPIError) -> str | None:
    """The SQLSTATE of a driver's error (asyncpg's is the adapter's cause), if it has one."""
    cause: BaseException | None = error.orig
    while cause is not None:
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(state, str) and state:
            return state
        cause = cause.__cause__
    return None


def with_earlier_reviews(stored: dict[str, Any], snapshot: dict[str, Any]) -> dict[str, Any]:
    """An action plan's snapshot with the reviews it no longer carries (`reviews_before`,
    patch "plan-bounded-carry") taken from the stored copy, which keeps every one; as it came
    if the stored copy does not have them."""
    before = snapshot.get("reviews_before") or 0
    if not before:
        return snapshot
    earlier = list(stored.get("reviews") or [])[:before]
    if len(earlier) < before or stored.get("reviews_before"):
        return snapshot
    return {**snapshot, "reviews": [*earlier, *snapshot.get("reviews", [])], "reviews_before": 0}


async def project_part(session: AsyncSession, part: PartProjectionInput) -> None:
    # Insert-if-absent first, then lock: two first projections of a part at once (a child's
    # concurrent handlers) would otherwise both insert, and one fail until its retry.
    await session.execute(
        _insert(session)(CasePart).values(
            case_id=part.case_id, part=part.part, stage=part.stage, overdue=part.overdue,
            next_deadline=None, version=-1, snapshot={}, updated_at=datetime.now(UTC),
        ).on_conflict_do_nothing(index_elements=["case_id", "part"]))
    row = await session.get(CasePart, (part.case_id, part.part), with_for_update=True,
                            populate_existing=True)
    assert row is not None
    if row.version < part.version:
        row.stage, row.overdue, row.next_deadline = part.stage, part.overdue, part.next_deadline
        row.version, row.snapshot = part.version, with_earlier_reviews(row.snapshot,
                                                                       part.snapshot)
        row.updated_at = datetime.now(UTC)
        await write_part_deadlines(session, part.case_id, part.part, part.snapshot)
    await _write_events(session, part.case_id, part.events, part.part, part.first_sequence)


async def write_part_deadlines(session: AsyncSession, case_id: str, part: str,
                               snapshot: dict[str, Any]) -> None:
    """The part's open deadlines, as its snapshot now has them, in place of the last ones."""
    await session.execute(delete(PartDeadline).where(PartDeadline.case_id == case_id,
                                                     PartDeadline.part == part))
    # One row a step (the key): a step twice in a snapshot would otherwise fail the
    # projection for good (a refused write is not retried).
    due = {item[0]: item for item in part_items(part, snapshot)}
    session.add_all(
        PartDeadline(case_id=case_id, part=part, step=step, due_date=day, statutory=statutory,
                     overdue=overdue)
        for step, day, statutory, overdue in due.values())


async def project(session: AsyncSession, case: CaseState, version: int) -> ProjectionResult:
    row = await session.get(Case, case.case_id, with_for_update=True)
    new = row is None
    if row is None:
        row = Case(case_id=case.case_id, kind=case.kind.value, received_at=case.received_at,
                   incident_date=case.notification.incident.date if case.notification else None,
                   possible_duplicate_of=[])
        session.add(row)
    # An amended notification (issue 9): its children's rows as the case now has them.
    amended = not new and row.version < version and \
        len(row.snapshot.get("amendments", [])) != len(case.amendments)
    if new or row.version < version:
        row.procedure_version = case.procedure_version
        row.stage = case.stage.value
        row.outcome = case.outcome.value if case.outcome else None
        row.overdue = case.overdue
        row.next_deadline = case.next_deadline()
        row.version = version
        row.snapshot = case.model_dump(mode="json")
        row.updated_at = datetime.now(UTC)
        await session.flush()
        await _write_steps(session, case)
    if amended:
        await session.execute(delete(Child).where(Child.case_id == case.case_id))
        await session.flush()
    if new or amended:
        if new:
            row.possible_duplicate_of = await _duplicates(session, case)
        for position, child in enumerate(case.children):
            session.add(Child(case_id=case.case_id, position=position,
                              reference=child.reference, date_of_birth=child.date_of_birth,
                              looked_after=child.looked_after, care_leaver=child.care_leaver))
    await _write_events(session, case.case_id, case.events,
                        first_sequence=case.events_before + 1)
    return ProjectionResult(possible_duplicates=row.possible_duplicate_of)


async def _write_steps(session: AsyncSession, case: CaseState) -> None:
    await session.execute(delete(CaseStep).where(CaseStep.case_id == case.case_id))
    session.add_all(
        CaseStep(case_id=case.case_id, step=s.step.value, due_date=s.due_date,
                 statutory=s.statutory, status=s.status.value,
                 completed_on=(s.completion.completed_on or london_date(s.completion.completed_at))
                 if s.completion else None)
        for s in case.steps
    )


async def _write_events(
    session: AsyncSession, case_id: str, events: list[CaseEvent], part: str = "case",
    first_sequence: int = 1,
) -> None:
    if not events:
        return
    rows: list[dict[str, Any]] = [
        {"case_id": case_id, "part": part, "sequence": n, "at": e.at, "kind": e.kind.value,
         "step": e.step.value if e.step else None, "detail": e.detail,
         "channel": e.channel.value,
         "actor_subject": e.actor.subject if e.actor else None,
         "actor_role": e.actor.role if e.actor else None,
         "actor_organisation": e.actor.organisation if e.actor else None}
        for n, e in enumerate(events, start=first_sequence)
    ]
    await session.execute(
        _insert(session)(AuditEvent).values(rows).on_conflict_do_nothing(
            index_elements=["case_id", "part", "sequence"])
    )


async def _duplicates(session: AsyncSession, case: CaseState) -> list[str]:
    """Cases already stored for one of these children with the same incident date (a request
    has no incident date: it is never taken for a duplicate)."""
    if case.notification is None:
        return []
    references = [c.reference for c in case.children]
    found = await session.scalars(
        select(Case.case_id).join(Child, Child.case_id == Case.case_id)
        .where(Child.reference.in_(references),
               Case.incident_date == case.notification.incident.date,
               Case.case_id != case.case_id)
        .distinct().order_by(Case.case_id)
    )
    return list(found)


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING (PostgreSQL and SQLite)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert

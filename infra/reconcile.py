"""`cspr reconcile`: the case store repaired from the workflows' state.

Temporal is the truth for a running case (DESIGN, principle 1); the store is its projection.
After the store is restored from last night's backup, today's decisions are still in Temporal:
this reads every case, LCSPR and action plan workflow Temporal still holds (open ones, and
closed ones within the namespace's retention), compares it with the store, and writes what is
missing through the same idempotent projection the workflows use: a row only moves forward,
audit events are keyed by their number in the trail, so nothing is written twice. It needs a
worker running (a query of a closed workflow replays it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from activities.case_store import PartProjectionInput, project, project_part
from domain.action_plan import ActionPlanState
from domain.case import CaseState
from domain.local_review import LocalReviewState
from store import retention, tenancy
from store.db import Sessionmaker
from store.models import AuditEvent, Case, CaseNumber, CasePart
from workflows import search_attributes as sa
from workflows.action_plan import PART as ACTION_PLAN
from workflows.local_review import PART as LOCAL_REVIEW

CASE_TYPES = ("SeriousIncident", "ReviewRequest")
PART_TYPES = ("LocalReview", "ActionPlan")
QUERY_TIMEOUT = timedelta(seconds=30)
_NUMBERED = re.compile(r"^CSPR-(\d{4})-(\d{4,})$")


@dataclass
class Repair:
    """What reconciling one workflow changed in the store."""

    workflow_id: str
    part: str
    row_written: bool
    events_added: int


@dataclass
class Report:
    compared: int = 0
    repairs: list[Repair] = field(default_factory=list)
    numbers_advanced: dict[int, int] = field(default_factory=dict)  # year -> last number
    unreachable: list[str] = field(default_factory=list)  # not answering: try again later

    @property
    def changed(self) -> bool:
        return bool(self.repairs or self.numbers_advanced)


async def reconcile(client: Client, sessions: Sessionmaker, open_only: bool = False) -> Report:
    """Compare every case workflow, then every LCSPR and action plan, with the store and
    repair the store; cases first (a part's row needs its case's)."""
    report = Report()
    for types in (CASE_TYPES, PART_TYPES):
        names = ", ".join(f"'{t}'" for t in types)
        query = f"WorkflowType IN ({names})"
        if open_only:
            query += " AND ExecutionStatus = 'Running'"
        async for execution in client.list_workflows(query):
            if execution.status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
                continue  # its successor holds the state
            try:
                repair = await _reconcile_one(client, sessions, execution.id, execution.run_id,
                                              execution.workflow_type)
            except RPCError:  # no worker answers its query; the others are still repaired
                report.unreachable.append(execution.id)
                continue
            report.compared += 1
            if repair.row_written or repair.events_added:
                report.repairs.append(repair)
    async with sessions.begin() as session:
        report.numbers_advanced = await _advance_case_numbers(session)
    return report


async def _reconcile_one(client: Client, sessions: Sessionmaker, workflow_id: str,
                         run_id: str, workflow_type: str) -> Repair:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    # The history's length before the state: the state read is at least as new as it.
    described = await handle.describe()
    history = described.history_length
    if workflow_type in CASE_TYPES:
        case = await handle.query("case", result_type=CaseState, rpc_timeout=QUERY_TIMEOUT)
        async with sessions.begin() as session:
            if await _anonymised(session, case.case_id):
                return Repair(workflow_id, "case", False, 0)
            # The case's partnership, as the API set it when it started the case (a store
            # restored from a backup older than the case has lost it): kept if there.
            partnership = described.typed_search_attributes.get(sa.PARTNERSHIP)
            if partnership:
                await tenancy.assign(session, case.case_id, partnership)
            before = await _events(session, case.case_id, "case")
            row = await session.get(Case, case.case_id, with_for_update=True)
            written = row is None or row.snapshot != case.model_dump(mode="json")
            if row is None:
                version = history
            elif written:
                version = max(history, row.version + 1)
            else:
                version = row.version  # only missing audit events are written
            await project(session, case, version)
            added = await _events(session, case.case_id, "case") - before
        return Repair(workflow_id, "case", written, added)
    part = await _part_input(handle, workflow_type, history)
    async with sessions.begin() as session:
        if await _anonymised(session, part.case_id):
            return Repair(workflow_id, part.part, False, 0)
        before = await _events(session, part.case_id, part.part)
        stored = await session.get(CasePart, (part.case_id, part.part), with_for_update=True)
        written = stored is None or stored.snapshot != part.snapshot
        if stored is not None:
            part.version = max(part.version, stored.version + 1) if written else stored.version
        await project_part(session, part)
        added = await _events(session, part.case_id, part.part) - before
    return Repair(workflow_id, part.part, written, added)


async def _part_input(handle: Any, workflow_type: str, history: int) -> PartProjectionInput:
    """The part as its workflow projects it (workflows/local_review.py, action_plan.py)."""
    if workflow_type == "LocalReview":
        review: LocalReviewState = await handle.query("review", result_type=LocalReviewState,
                                                     rpc_timeout=QUERY_TIMEOUT)
        return PartProjectionInput(
            case_id=review.case_id, part=LOCAL_REVIEW, version=history,
            stage=review.stage.value, overdue=review.overdue,
            next_deadline=review.next_deadline(), snapshot=review.model_dump(mode="json"),
            events=[e.case_event() for e in review.events],
            first_sequence=review.events_before + 1)
    plan: ActionPlanState = await handle.query("plan", result_type=ActionPlanState,
                                                  rpc_timeout=QUERY_TIMEOUT)
    # A plan that continued as new counts its version over all its runs: this run's history
    # is a lower bound, and the row's version + 1 (in _reconcile_one) moves it on.
    return PartProjectionInput(
        case_id=plan.case_id, part=ACTION_PLAN, version=history, stage=plan.stage.value,
        overdue=plan.overdue, next_deadline=plan.next_deadline(),
        snapshot=plan.model_dump(mode="json"), events=[e.for_case() for e in plan.events],
        first_sequence=plan.events_before + 1)


async def _anonymised(session: AsyncSession, case_id: str) -> bool:
    """Erased or anonymised: the workflow's state must not bring the details back."""
    kinds = {kind for _, kind in await retention.done(session, [case_id])}
    return bool(kinds & {"erased", "anonymised_case_record"})


async def _events(session: AsyncSession, case_id: str, part: str) -> int:
    return await session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.case_id == case_id, AuditEvent.part == part)) or 0


async def _advance_case_numbers(session: AsyncSession) -> dict[int, int]:
    """A restored store's counter may be behind the cases Temporal holds: the next case would
    be given a number already used. Move each year's counter past the highest number stored."""
    highest: dict[int, int] = {}
    for case_id in await session.scalars(select(Case.case_id)):
        if (found := _NUMBERED.match(case_id)) is not None:
            year, number = int(found.group(1)), int(found.group(2))
            highest[year] = max(highest.get(year, 0), number)
    advanced: dict[int, int] = {}
    for year, number in sorted(highest.items()):
        row = await session.get(CaseNumber, year, with_for_update=True)
        if row is None:
            session.add(CaseNumber(year=year, last=number))
        elif row.last < number:
            row.last = number
        else:
            continue
        advanced[year] = number
    return advanced

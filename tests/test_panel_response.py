"""Issue 9, item 5 (procedure nl-cspr-2025-06-r5) under the time-skipping server: the Panel's
response to a rapid review that recommended a national review.

(a) The Panel declines: the partners may then decide on an LCSPR on the same case. The local
criteria the partners "must take into account" include whether the case "is one which the
Child Safeguarding Practice Review Panel have considered and concluded a local review may be
more appropriate". Their decision is clock L ("completed and published within six months of
the agreed decision to undertake an LCSPR"), and the LCSPR starts with it.

(b) The Panel asks for more information: "The safeguarding partners must share further
information with the Panel as requested." The procedure sets no time, so the due date is the
service's own target (CSPR_PANEL_INFORMATION_TARGET_DAYS working days from the request),
reminded and escalated like any step; each send is recorded (what, to whom, when), and the
Panel's final answer can still come after.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingDayCalendar
from domain.case import CaseState, EventKind, Outcome, Stage, StepStatus
from domain.decisions import Actor, PanelInformation
from domain.mail import alert_text, deadline_note
from domain.procedure import CURRENT_PROCEDURE, NL_CSPR_2025_06_R4, DeadlineKind, Step
from domain.reviews import LocalReviewInput, ReviewKind
from store.db import Sessionmaker
from tests.conftest import new_worker
from tests.factories import case_when, notification, signal, start_case
from tests.local_review_stand_in import LocalReviewStandIn, with_stand_in
from tests.scenarios import (
    LONDON,
    at_london,
    rapid_review_to_submission,
    to_rapid_review,
    travel_to,
)
from workflows.case_workflow import CaseResult
from workflows.ids import local_review_id
from workflows.serious_incident import CaseInput, SeriousIncidentWorkflow

MARS = Actor(subject="mars@cspr.test", role="mars_team")
Handle = WorkflowHandle[Any, Any]
CALENDAR = WorkingDayCalendar()


async def to_panel(env: WorkflowEnvironment, handle: Handle) -> CaseState:
    """A serious case whose rapid review recommended a national review, awaiting the Panel."""
    await case_when(handle, lambda c: bool(c.clock_dates))

    async def send(step: str, **fields: Any) -> None:
        await signal(handle, step, **fields)

    await to_rapid_review(send)
    await send("panel_notification", notified_at=await env.get_current_time(),
               reference="CSPN-PR-1")
    await rapid_review_to_submission(send, ["Council"], outcome="national_review_recommended")
    case = await case_when(handle, lambda c: c.stage is Stage.AWAITING_PANEL_RESPONSE)
    assert case.step(Step.LOCAL_REVIEW_DECISION).status is StepStatus.NOT_REQUIRED
    assert case.step(Step.PANEL_INFORMATION).status is StepStatus.NOT_REQUIRED
    return case


async def to_panel_declined(env: WorkflowEnvironment, handle: Handle) -> CaseState:
    """A serious case whose rapid review recommended a national review, which the Panel
    declined."""
    await to_panel(env, handle)
    await signal(handle, "panel_response", actor=MARS, decision="no_national_review")
    # The case does not close: the partners' decision is open, with no deadline (the procedure
    # sets none for it).
    case = await case_when(handle, lambda c: c.stage is Stage.LOCAL_REVIEW_DECISION)
    assert case.outcome is None
    decision = case.step(Step.LOCAL_REVIEW_DECISION)
    assert decision.open
    assert decision.due_date is None
    assert not decision.statutory
    assert decision.status is StepStatus.PENDING
    return case


async def test_panel_declines_and_the_partners_decide_on_an_lcspr(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"is one which the Child Safeguarding Practice Review Panel have considered and concluded
    a local review may be more appropriate": after the Panel's no, the partners decide on an
    LCSPR on the same case; the LCSPR child starts with clock L at their decision."""
    assert CURRENT_PROCEDURE.has(Step.LOCAL_REVIEW_DECISION)
    assert not NL_CSPR_2025_06_R4.has(Step.LOCAL_REVIEW_DECISION)  # r4 cases close as before
    cid = f"CSPR-2027-PD{uuid.uuid4().hex[:6].upper()}"
    async with new_worker(time_env.client, sessions, workflows=with_stand_in()) as worker:
        handle = await start_case(time_env.client, worker.task_queue, cid,
                                  await time_env.get_current_time())
        await to_panel_declined(time_env, handle)
        decided_on = (await time_env.get_current_time()).astimezone(LONDON).date()
        await signal(handle, "local_review_decision", actor=MARS, undertake=True,
                     decided_on=decided_on.isoformat(),
                     rationale="The Panel concluded a local review is more appropriate")
        case = await case_when(handle, lambda c: any(
            e.kind is EventKind.LOCAL_REVIEW_STARTED for e in c.events))
        assert (case.stage, case.outcome) == (Stage.LOCAL_REVIEW, Outcome.LOCAL_REVIEW)
        assert case.step(Step.LOCAL_REVIEW_DECISION).status is StepStatus.DONE
        child = time_env.client.get_workflow_handle(local_review_id(cid))
        assert await child.query(LocalReviewStandIn.input) == LocalReviewInput(
            case_id=cid, kind=ReviewKind.SERIOUS_INCIDENT,
            procedure_version=CURRENT_PROCEDURE.version,
            decided_on=decided_on, decided_at=None, actor=MARS)
        await handle.terminate("test over")
        await child.terminate("test over")


async def test_panel_declines_and_the_partners_do_not_undertake_an_lcspr(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """The partners decide against an LCSPR after the Panel's no: the case closes
    `no_further_review`, no LCSPR started; a second decision is refused."""
    cid = f"CSPR-2027-PN{uuid.uuid4().hex[:6].upper()}"
    async with new_worker(time_env.client, sessions, workflows=with_stand_in()) as worker:
        handle = await start_case(time_env.client, worker.task_queue, cid,
                                  await time_env.get_current_time())
        await to_panel_declined(time_env, handle)
        # A date in the future is refused by name, nothing changed.
        await signal(handle, "local_review_decision", actor=MARS, undertake=False,
                     decided_on="2199-01-01", rationale="Learning already taken forward")
        case = await case_when(handle, lambda c: any(
            e.kind is EventKind.SIGNAL_REJECTED for e in c.events))
        rejected = next(e for e in case.events if e.kind is EventKind.SIGNAL_REJECTED)
        assert "decided_on: is in the future" in rejected.detail
        assert case.stage is Stage.LOCAL_REVIEW_DECISION
        await signal(handle, "local_review_decision", actor=MARS, undertake=False,
                     rationale="Learning already taken forward by the agencies")
        assert await handle.result() == CaseResult(case_id=cid,
                                                   outcome=Outcome.NO_FURTHER_REVIEW)
        case = await handle.query("case", result_type=CaseState)
        assert case.stage is Stage.CLOSED
        assert case.step(Step.LOCAL_REVIEW_DECISION).status is StepStatus.DONE
        assert not any(e.kind is EventKind.LOCAL_REVIEW_STARTED for e in case.events)


async def a_monday(env: WorkflowEnvironment) -> date:
    """The next Monday of a week with no bank holiday, 10:00 London, the clock moved to it."""
    now = (await env.get_current_time()).astimezone(LONDON).date()
    monday = now + timedelta(days=7 - now.weekday())
    while not all(CALENDAR.is_working_day(monday + timedelta(days=d)) for d in range(5)):
        monday += timedelta(days=7)
    await travel_to(env, at_london(monday, 10))
    return monday


def sends(case: CaseState) -> list[PanelInformation]:
    return [r for r in case.records if isinstance(r, PanelInformation)]


async def test_more_information_is_due_on_the_services_own_target_reminded_and_recorded(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """"The safeguarding partners must share further information with the Panel as
    requested": the request opens `panel_information`, due on the service's own target (here a
    partnership's setting of 3 working days, not the default 5) from the request's date,
    reminded at 09:00 the working day before; each send is its own record; the Panel's final
    answer comes after (declined: the partners' LCSPR decision opens)."""
    monday = await a_monday(time_env)
    cid = f"CSPR-2027-PI{uuid.uuid4().hex[:6].upper()}"
    async with new_worker(time_env.client, sessions, workflows=with_stand_in()) as worker:
        handle = await time_env.client.start_workflow(
            SeriousIncidentWorkflow.run,
            CaseInput(case_id=cid, procedure_version=CURRENT_PROCEDURE.version,
                      notification=notification(await time_env.get_current_time()),
                      panel_information_days=3),
            id=cid, task_queue=worker.task_queue)
        await to_panel(time_env, handle)
        await signal(handle, "panel_response", actor=MARS,
                     decision="more_information_requested")
        case = await case_when(handle, lambda c: c.step(Step.PANEL_INFORMATION).due_date
                               is not None)
        info = case.step(Step.PANEL_INFORMATION)
        assert case.stage is Stage.AWAITING_PANEL_RESPONSE
        assert info.due_date == CALENDAR.add_working_days(monday, 3)
        assert [d.kind for d in info.deadlines] == [DeadlineKind.LOCAL]  # never "statutory"
        assert info.status is StepStatus.PENDING

        # Reminded at 09:00 the working day before, not yet overdue.
        remind_at = info.deadlines[0].remind_at
        assert remind_at == at_london(CALENDAR.add_working_days(monday, 2), 9)
        await travel_to(time_env, remind_at + timedelta(minutes=1))
        case = await case_when(handle, lambda c: any(
            e.kind is EventKind.REMINDER and e.step is Step.PANEL_INFORMATION
            for e in c.events))
        assert not any(e.kind is EventKind.OVERDUE for e in case.events
                       if e.step is Step.PANEL_INFORMATION)
        # The reminder says whose target it is, in those words.
        text = alert_text(cid, case, Step.PANEL_INFORMATION, False, info.due_date, True,
                          note=deadline_note(case, Step.PANEL_INFORMATION,
                                             f"local deadline {info.due_date}"))
        assert "(the service's own target)" in text.body
        assert "statutory deadline" not in text.body

        # Two sends, each its own record; the second completes what was asked.
        now = await time_env.get_current_time()
        await signal(handle, "panel_information", actor=MARS, what="Health chronology",
                     sent_to="Mailbox.NationalReviewPanel@education.gov.uk",
                     sent_at=(now - timedelta(hours=1)).isoformat(), completes=False)
        case = await case_when(handle, lambda c: len(sends(c)) == 1)
        assert case.step(Step.PANEL_INFORMATION).open
        await signal(handle, "panel_information", actor=MARS, what="School record",
                     sent_to="Mailbox.NationalReviewPanel@education.gov.uk",
                     sent_at=now.isoformat())
        case = await case_when(handle, lambda c: len(sends(c)) == 2)
        assert case.step(Step.PANEL_INFORMATION).status is StepStatus.DONE
        assert [(r.what, r.completes) for r in sends(case)] == [
            ("Health chronology", False), ("School record", True)]
        assert sends(case)[1].sent_at == now

        # The Panel's final answer after it: declined, the partners decide on an LCSPR.
        await signal(handle, "panel_response", actor=MARS, decision="no_national_review")
        case = await case_when(handle, lambda c: c.stage is Stage.LOCAL_REVIEW_DECISION)
        assert case.step(Step.PANEL_RESPONSE).status is StepStatus.DONE
        await handle.terminate("test over")


async def test_the_panels_answer_clears_information_not_yet_sent(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    """The Panel asks for more, then decides on a national review before anything was sent:
    nothing more is owed (no reminder or escalation after), and a late send is refused."""
    await a_monday(time_env)
    cid = f"CSPR-2027-PC{uuid.uuid4().hex[:6].upper()}"
    async with new_worker(time_env.client, sessions, workflows=with_stand_in()) as worker:
        handle = await start_case(time_env.client, worker.task_queue, cid,
                                  await time_env.get_current_time())
        await to_panel(time_env, handle)
        await signal(handle, "panel_response", decision="more_information_requested")
        case = await case_when(handle, lambda c: c.step(Step.PANEL_INFORMATION).due_date
                               is not None)
        due = case.step(Step.PANEL_INFORMATION).due_date
        assert due is not None
        await signal(handle, "panel_response", decision="national_review")
        assert await handle.result() == CaseResult(case_id=cid, outcome=Outcome.NATIONAL_REVIEW)
        case = await handle.query("case", result_type=CaseState)
        assert case.step(Step.PANEL_INFORMATION).status is StepStatus.NOT_REQUIRED
        assert not case.overdue
        assert not any(e.step is Step.PANEL_INFORMATION
                       and e.kind in (EventKind.REMINDER, EventKind.OVERDUE)
                       for e in case.events)

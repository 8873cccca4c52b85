"""Differences of opinion in the case workflow under the time-skipping server: each level's
target from the calendar activity, escalation when it passes, overdue at the last level."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingDayCalendar, end_of_day, london_date
from domain.case import CaseState, Channel, EventKind, Stage
from domain.decisions import Actor
from domain.differences import Difference, DifferenceTargets, Level, LevelEnd, Subject, loose
from domain.procedure import CURRENT_PROCEDURE
from store.db import Sessionmaker
from tests.conftest import new_worker
from tests.factories import case_when, clocks_started, notification, signal, start_case
from tests.scenarios import travel_to
from workflows.serious_incident import CaseInput, SeriousIncidentWorkflow

Handle = WorkflowHandle[SeriousIncidentWorkflow, Any]
CAL = WorkingDayCalendar()
SSL = Actor(subject="ssl@cspr.test", role="ssl", organisation="health")
AGENCY = Actor(subject="rep@agency.test", role="agency", organisation="NHS Trust")
SLACK = timedelta(seconds=5)


def first(case: CaseState) -> Difference:
    return case.differences.items[0]


def dated(case: CaseState) -> bool:
    return bool(case.differences.items) and first(case).target.deadline_at is not None


def at_level(level: Level) -> Any:
    return lambda c: dated(c) and first(c).level is level


def kinds(case: CaseState) -> list[str]:
    return [e.kind.value for e in case.events
            if e.kind.value.startswith("difference_")
            and e.kind is not EventKind.DIFFERENCE_OF_OPINION]


async def split_partners(handle: Handle) -> None:
    await signal(handle, "inform_partners")
    await signal(handle, "ssl_recommendation", criteria_met=True,
                 recommend_panel_notification=True, rationale="Criteria met")
    await signal(handle, "dsp_decision", partner="local_authority", criteria_met=True,
                 rationale="Met")
    await signal(handle, "dsp_decision", partner="health", criteria_met=True, rationale="Met")
    await signal(handle, "dsp_decision", partner="police", criteria_met=False,
                 rationale="No evidence of neglect")


async def test_the_partners_disagreeing_go_up_the_ladder_until_they_agree(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    async with new_worker(time_env.client, sessions) as worker:
        # The service's targets (CSPR_DIFFERENCE_TARGET_DAYS), as the API passes them.
        targets = DifferenceTargets(safeguarding_partners=3, independent_scrutiny=4)
        handle = await time_env.client.start_workflow(
            SeriousIncidentWorkflow.run,
            CaseInput(case_id="CSPR-2026-DOOWF1", procedure_version=CURRENT_PROCEDURE.version,
                      notification=notification(await time_env.get_current_time()),
                      difference_targets=targets),
            id="CSPR-2026-DOOWF1", task_queue=worker.task_queue)
        await case_when(handle, clocks_started)
        await split_partners(handle)
        case = await case_when(handle, dated)
        assert case.stage is Stage.DIFFERENCE_OF_OPINION
        d = first(case)
        # The DSPs are the partners: it starts at their level, raised by the case itself.
        assert (d.subject, d.level, d.raised_by) == (Subject.CRITERIA,
                                                     Level.SAFEGUARDING_PARTNERS, None)
        assert d.targets == targets
        due = CAL.add_working_days(london_date(d.raised_at), 3)
        assert d.target.due_date == due
        assert d.target.deadline_at == end_of_day(due)

        # The partners' target passes: mediation by an Independent Scrutiny Officer.
        await travel_to(time_env, end_of_day(due) + SLACK)
        case = await case_when(handle, at_level(Level.INDEPENDENT_SCRUTINY))
        d = first(case)
        assert (d.history[0].how, d.history[0].ended_at) == (LevelEnd.TARGET_PASSED,
                                                             end_of_day(due))
        last_due = CAL.add_working_days(london_date(end_of_day(due)), 4)
        assert d.target.due_date == last_due
        assert "difference_reminder" in kinds(case)

        await travel_to(time_env, end_of_day(last_due) + SLACK)
        case = await case_when(handle, lambda c: first(c).overdue)
        assert case.overdue
        assert kinds(case) == ["difference_raised", "difference_reminder",
                               "difference_escalated", "difference_reminder",
                               "difference_overdue"]
        assert all(e.channel is Channel.TIMER for e in case.events
                   if e.kind in (EventKind.DIFFERENCE_ESCALATED, EventKind.DIFFERENCE_OVERDUE))

        await signal(handle, "dsp_decision", partner="police", criteria_met=True,
                     rationale="Agreed after mediation")
        case = await case_when(handle, lambda c: c.stage is Stage.RAPID_REVIEW)
        d = first(case)
        assert d.resolution is not None
        assert (d.resolution.level, d.resolution.by, d.resolution.outcome) == (
            Level.INDEPENDENT_SCRUTINY, None, "The partners agreed the criteria are met")
        assert not case.differences.overdue
        assert kinds(case)[-1] == "difference_resolved"
        await handle.terminate("test over")


async def test_a_raised_difference_escalates_at_each_target_and_is_resolved(
    time_env: WorkflowEnvironment, sessions: Sessionmaker,
) -> None:
    async with new_worker(time_env.client, sessions) as worker:
        handle = await start_case(time_env.client, worker.task_queue, "CSPR-2026-DOOWF2",
                                  await time_env.get_current_time())
        await case_when(handle, clocks_started)
        raised = await handle.execute_update("raise_difference", loose(
            {"subject": "process", "summary": "Agency reports are late",
             "targets": {"ssl_and_mars": 1, "safeguarding_partners": 2,
                         "independent_scrutiny": 3}}, AGENCY), result_type=Difference)
        assert (raised.id, raised.level, raised.raised_by) == ("DOO-1", Level.SSL_AND_MARS,
                                                                AGENCY)
        assert raised.target.due_date == CAL.add_working_days(london_date(raised.raised_at), 1)

        passing = raised.target.deadline_at
        assert passing is not None
        for level, days in ((Level.SAFEGUARDING_PARTNERS, 2), (Level.INDEPENDENT_SCRUTINY, 3)):
            await travel_to(time_env, passing + SLACK)
            case = await case_when(handle, at_level(level))
            d = first(case)
            assert d.history[-2].ended_at == passing
            assert d.target.due_date == CAL.add_working_days(london_date(passing), days)
            passing = d.target.deadline_at
            assert passing is not None

        resolved = await handle.execute_update("resolve_difference", loose(
            {"difference_id": "DOO-1", "outcome": "A new template for agency reports"}, SSL),
            result_type=Difference)
        assert resolved.resolution is not None
        assert resolved.resolution.level is Level.INDEPENDENT_SCRUTINY
        assert [s.how for s in resolved.history] == [LevelEnd.TARGET_PASSED,
                                                      LevelEnd.TARGET_PASSED, LevelEnd.RESOLVED]
        # Nothing more happens to it once resolved.
        await travel_to(time_env, passing + timedelta(days=30))
        case = await case_when(handle, lambda _: True)
        assert "difference_overdue" not in kinds(case)
        assert case.differences.next_alert_at() is None
        await handle.terminate("test over")

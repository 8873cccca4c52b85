"""Record the workflow histories the replay test guards (run by hand, then commit the JSON).

    .venv/bin/python -m tests.histories.record TAG [SCENARIO ...]

Files are named `<scenario>.<TAG>.json`: record a new tag when the workflow changes (v1: before
the case store; v2: with it; v3: a `notified` event naming the notifier, and signals checked
against the actor's permissions; parent1: the LCSPR as a child of the case, and review
requests, recorded with `parent1` and its scenario names only; doo1: differences of opinion,
recorded with `doo1 disagreement_up_the_ladder`; mail1: letters and e-mail, statutory
notices and a calendar change, recorded with `mail1 mail_notices_and_a_bank_holiday`; faults1:
one change at a time, bounded projections and heartbeating mail activities, recorded with
`faults1 mail_notices_and_a_bank_holiday disagreement_up_the_ladder`; can1: a case's first run
continuing as new under refused signals, with quiet rejections, recorded with
`can1 refused_signals_continue_as_new`; panel1: procedure r5, the Panel asking for more
information then declining, and the partners' LCSPR decision, recorded with
`panel1 panel_answers_to_the_partners_lcspr`; family1: the family told of the partners'
decision after its reminder, recorded with `family1 family_told_after_a_reminder`; evlog1: the
audit events logged by the workflow, no `record_case_event` activity, recorded with `evlog1
mail_notices_and_a_bank_holiday`; dates1: the opening's due dates in one local activity,
recorded with `dates1 mail_notices_and_a_bank_holiday`; local1: the case's projection as a
local activity, recorded with `local1 mail_notices_and_a_bank_holiday
disagreement_up_the_ladder`; cur1: every patch taken with one marker, "case-patches-1",
recorded with `cur1 mail_notices_and_a_bank_holiday request_agreed_to_its_lcspr`) and keep
the old files, so
histories made by older code keep replaying on newer code. Payloads are encrypted with the
tests' fixed key.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.calendar import CalendarChanged, WorkingDayCalendar
from domain.case import CaseState
from domain.decisions import Actor
from domain.differences import Difference, loose
from domain.procedure import CURRENT_PROCEDURE
from infra.binaries import temporal_cli, temporal_test_server
from store.db import Sessionmaker, make_sessionmaker
from tests.conftest import CONVERTER, register_search_attributes
from tests.database import drop, test_database
from tests.factories import decision, notification, start_case
from tests.histories import parent_scenarios
from tests.local_review_stand_in import with_stand_in
from tests.scenarios import rapid_review_to_submission, to_rapid_review
from worker import build_worker
from workflows import search_attributes as sa
from workflows.serious_incident import CaseInput, SeriousIncidentWorkflow

HERE = Path(__file__).parent
Handle = WorkflowHandle[SeriousIncidentWorkflow, Any]
Scenario = Callable[[WorkflowEnvironment, Handle], Awaitable[None]]
PARTNERS = ("local_authority", "health", "police")
# Every case is notified by the MARS team through the API (the actor its token names).
NOTIFIER = Actor(subject="mars-recorder@cspr.test", role="mars_team")


def dsp(organisation: str) -> Actor:
    return Actor(subject=f"dsp-{organisation}@cspr.test", role="dsp", organisation=organisation)


def by_signal(handle: Handle) -> Callable[..., Awaitable[None]]:
    async def send(step: str, **fields: Any) -> None:
        await handle.signal("record", decision(step, **fields))
        await asyncio.sleep(0.3)  # let the worker apply it before the clock moves
    return send


def by_update(handle: Handle) -> Callable[..., Awaitable[None]]:
    async def send(step: str, **fields: Any) -> None:
        await handle.execute_update("record", decision(step, **fields), result_type=CaseState)
    return send


async def timeline_with_overdue_steps_to_national_review(
    env: WorkflowEnvironment, handle: Handle
) -> None:
    send = by_signal(handle)
    await send("inform_partners")
    await env.sleep(timedelta(days=6))  # reminders, then the SSL and DSP steps overdue
    await send("ssl_recommendation", criteria_met=True, recommend_panel_notification=True,
               rationale="Criteria met")
    for partner in PARTNERS:
        await send("dsp_decision", partner=partner, criteria_met=True, rationale="Agreed")
    await send("panel_notification", notified_at=await env.get_current_time(),
               reference="CSPN-1")
    await env.sleep(timedelta(days=9))
    await rapid_review_to_submission(send, ["Council", "NHS Trust"])
    await send("panel_response", decision="national_review")


async def disagreement_then_not_met(env: WorkflowEnvironment, handle: Handle) -> None:
    send = by_signal(handle)
    await send("inform_partners")
    await send("ssl_recommendation", criteria_met=False, recommend_panel_notification=False,
               rationale="Accidental")
    await send("dsp_decision", partner="local_authority", criteria_met=True, rationale="Met")
    await send("dsp_decision", partner="health", criteria_met=False, rationale="Not met")
    await send("dsp_decision", partner="police", criteria_met=False, rationale="Not met")
    await send("rapid_review_submission")  # out of turn: rejected, recorded as such
    await env.sleep(timedelta(days=8))
    await send("dsp_decision", partner="local_authority", criteria_met=False,
               rationale="Persuaded")


async def updates_to_local_review(_: WorkflowEnvironment, handle: Handle) -> None:
    await handle.execute_update("opened", result_type=CaseState)
    send = by_update(handle)
    await to_rapid_review(send)
    await send("panel_notification", notified_at=datetime.now(UTC), reference="CSPN-2")
    await rapid_review_to_submission(send, ["Council"])
    await send("panel_response", decision="more_information_requested")


async def signals_checked_against_permissions(env: WorkflowEnvironment, handle: Handle) -> None:
    """Signals naming an actor who may not record the step are refused; the rest are applied."""
    send = by_signal(handle)
    await send("inform_partners", actor=NOTIFIER)
    await send("ssl_recommendation", actor=Actor(subject="ssl-health@cspr.test", role="ssl",
                                                 organisation="health"),
               criteria_met=False, recommend_panel_notification=False, rationale="Accidental")
    # Health's DSP recording the police's decision: refused (the first refusal: the patch).
    await send("dsp_decision", actor=dsp("health"), partner="police", criteria_met=False,
               rationale="Not met")
    await env.sleep(timedelta(days=6))  # reminders and escalations between the refusals
    # The wrong role, and a role the procedure does not have: refused too.
    await send("dsp_decision", actor=Actor(subject="ssl-police@cspr.test", role="ssl",
                                           organisation="police"),
               partner="police", criteria_met=False, rationale="Not met")
    await send("dsp_decision", actor=Actor(subject="chief@cspr.test", role="chief_constable",
                                           organisation="police"),
               partner="police", criteria_met=False, rationale="Not met")
    # The police's own DSP, an operator's signal naming no one, and the local authority's DSP.
    await send("dsp_decision", actor=dsp("police"), partner="police", criteria_met=False,
               rationale="Not met")
    await send("dsp_decision", partner="health", criteria_met=False, rationale="Not met")
    await send("dsp_decision", actor=dsp("local_authority"), partner="local_authority",
               criteria_met=False, rationale="Not met")


async def disagreement_up_the_ladder(env: WorkflowEnvironment, handle: Handle) -> None:
    """The DSPs disagree: the case raises a difference at the partners' level, whose target
    passes to an Independent Scrutiny Officer and then becomes overdue. An agency raises
    another (updates), the SSLs escalate it and the partners resolve it; the DSPs then agree,
    which resolves the first."""
    send = by_signal(handle)
    await send("inform_partners")
    await send("ssl_recommendation", criteria_met=True, recommend_panel_notification=True,
               rationale="Criteria met")
    await send("dsp_decision", partner="local_authority", criteria_met=True, rationale="Met")
    await send("dsp_decision", partner="health", criteria_met=True, rationale="Met")
    await send("dsp_decision", partner="police", criteria_met=False, rationale="Not met")
    agency = Actor(subject="rep@agency.test", role="agency", organisation="NHS Trust")
    await handle.execute_update("raise_difference", loose(
        {"subject": "process", "summary": "Agency reports were asked for late",
         "targets": {"ssl_and_mars": 5, "safeguarding_partners": 5,
                     "independent_scrutiny": 10}}, agency), result_type=Difference)
    ssl = Actor(subject="ssl-health@cspr.test", role="ssl", organisation="health")
    await handle.execute_update("escalate_difference", loose(
        {"difference_id": "DOO-2", "reason": "The SSLs could not agree"}, ssl),
        result_type=Difference)
    await env.sleep(timedelta(days=9))  # both pass the partners' five working days
    await handle.execute_update("resolve_difference", loose(
        {"difference_id": "DOO-2", "outcome": "Letters to go the same day"}, dsp("police")),
        result_type=Difference)
    await env.sleep(timedelta(days=16))  # the Independent Scrutiny Officer's ten pass
    await send("dsp_decision", partner="police", criteria_met=True,
               rationale="Agreed after mediation")


async def panel_answers_to_the_partners_lcspr(env: WorkflowEnvironment, handle: Handle) -> None:
    """Procedure r5: the rapid review recommends a national review; the Panel asks for more
    information (due on the service's own target: reminded, then overdue), which is sent in
    two parts; the Panel declines, and the partners decide on an LCSPR (the stand-in starts)."""
    send = by_signal(handle)
    await to_rapid_review(send)
    await send("panel_notification", notified_at=await env.get_current_time(),
               reference="CSPN-PANEL1")
    await send("agency_requests", agencies=["Council"])
    await send("agency_reports", agency="Council")
    await send("rapid_review_meeting", recommendations=["Refer to the Panel"],
               outcome="national_review_recommended", rationale="Of national importance")
    await send("rapid_review_report")
    for partner in PARTNERS:
        await send("rapid_review_signoff", partner=partner)
    await send("rapid_review_submission")
    await send("panel_response", decision="more_information_requested")
    await env.sleep(timedelta(days=10))  # the information's reminder, then overdue
    await send("panel_information", what="Chronology", sent_to="Panel secretariat",
               sent_at=await env.get_current_time(), completes=False)
    await send("panel_information", what="School record", sent_to="Panel secretariat",
               sent_at=await env.get_current_time())
    await send("panel_response", decision="no_national_review")
    await send("local_review_decision", undertake=True, rationale="The Panel's view")
    await asyncio.sleep(1.0)


async def family_told_after_a_reminder(env: WorkflowEnvironment, handle: Handle) -> None:
    """family1: the partners decide; their decision not yet told to the family is reminded a
    week on; one record refused (no involvement for the rapid review) and one made."""
    send = by_signal(handle)
    await to_rapid_review(send)
    await env.sleep(timedelta(days=8))
    told_on = (await env.get_current_time()).date().isoformat()
    record = {"decision": "rapid_review", "told": "The child's mother", "told_on": told_on,
              "method": "Home visit", "rationale": "The criteria are met"}
    for fields in ({}, {"decision": "partners_decision"}):
        try:
            await handle.execute_update("record_family_communication",
                                        loose({**record, **fields}, NOTIFIER),
                                        result_type=CaseState)
        except WorkflowUpdateFailedError:
            pass
    await asyncio.sleep(1.0)


async def start_looked_after_death(*args: Any, **kwargs: Any) -> Handle:
    """A case on the death of a looked after child: the Secretary of State and Ofsted."""
    now: datetime = args[3]
    return await start_case(*args, **kwargs, incident={
        "date": (now - timedelta(days=1)).date().isoformat(), "harm": "death",
        "abuse_or_neglect": "suspected"},
        children=[{"reference": "REPLAY-LAC-1", "looked_after": True}])


async def mail_notices_and_a_bank_holiday(env: WorkflowEnvironment, handle: Handle) -> None:
    """The MARS team asks for the partners' letters (nobody is in the recorder's directory:
    they cannot go, the case says so) and records the step by hand; reminders and escalations
    are e-mailed (to no one, said likewise); the calendar changes; the notices are made; the
    SSLs' and DSPs' records send Doc 4; the criteria are not met and the case closes."""
    send = by_signal(handle)
    await handle.execute_update("opened", result_type=CaseState)
    await handle.execute_update("send_letters", decision("inform_partners", NOTIFIER),
                                result_type=CaseState)
    await asyncio.sleep(1.0)
    await send("inform_partners", actor=NOTIFIER)
    await env.sleep(timedelta(days=4))  # the SSLs' reminder and escalation, e-mailed
    await handle.signal("calendar_changed",
                        CalendarChanged(day=(await env.get_current_time()).date(),
                                        change="added"))
    await asyncio.sleep(0.5)
    now = await env.get_current_time()
    await send("notify_secretary_of_state", sent_at=now, method="email")
    await send("notify_ofsted", sent_at=now, method="online_notification_system",
               reference="CSPN-REPLAY")
    await send("ssl_recommendation", criteria_met=False, recommend_panel_notification=False,
               rationale="Natural causes")
    for partner in PARTNERS:
        await send("dsp_decision", partner=partner, criteria_met=False, rationale="Not met")
    await asyncio.sleep(1.0)


async def start_short_runs(client: Any, task_queue: str, case_id: str, received_at: datetime,
                           actor: Actor | None = None) -> Handle:
    """A case whose runs continue as new past 100 history events."""
    handle: Handle = await client.start_workflow(
        SeriousIncidentWorkflow.run,
        CaseInput(case_id=case_id, procedure_version=CURRENT_PROCEDURE.version,
                  notification=notification(received_at), actor=actor, history_per_run=100),
        id=case_id, task_queue=task_queue)
    return handle


async def refused_signals_continue_as_new(_: WorkflowEnvironment, handle: Handle) -> None:
    """A partner system retries a record the case refuses (the Panel's response, long before
    it is due): the first run (the handle's, recorded) continues as new."""
    for _n in range(40):
        await handle.signal("record", decision("panel_response",
                                               decision="no_national_review"))
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)


TIME_SKIPPING: dict[str, Scenario] = {
    "timeline_with_overdue_steps_to_national_review":
        timeline_with_overdue_steps_to_national_review,
    "disagreement_then_not_met": disagreement_then_not_met,
    "signals_checked_against_permissions": signals_checked_against_permissions,
    "disagreement_up_the_ladder": disagreement_up_the_ladder,
    "mail_notices_and_a_bank_holiday": mail_notices_and_a_bank_holiday,
    "panel_answers_to_the_partners_lcspr": panel_answers_to_the_partners_lcspr,
    "family_told_after_a_reminder": family_told_after_a_reminder,
}
STARTS: dict[str, Callable[..., Awaitable[Handle]]] = {
    **parent_scenarios.STARTS, "mail_notices_and_a_bank_holiday": start_looked_after_death,
    "refused_signals_continue_as_new": start_short_runs}
DEV_SERVER: dict[str, Scenario] = {"updates_to_local_review": updates_to_local_review,
                                   "refused_signals_continue_as_new":
                                       refused_signals_continue_as_new}
# Scenarios that start their own case (a request, say), and run the stand-in LCSPR.
TIME_SKIPPING.update(parent_scenarios.TIME_SKIPPING)
DEV_SERVER.update(parent_scenarios.DEV_SERVER)


async def record(
    env: WorkflowEnvironment, scenarios: dict[str, Scenario], sessions: Sessionmaker, tag: str
) -> None:
    async with build_worker(env.client, f"record-{uuid.uuid4()}", WorkingDayCalendar(),
                            sessions, with_stand_in()) as w:
        for name, scenario in scenarios.items():
            start: Callable[..., Awaitable[Handle]] = STARTS.get(name, start_case)
            handle = await start(env.client, w.task_queue, f"CSPR-2026-{name[:8].upper()}",
                                 await env.get_current_time(), actor=NOTIFIER)
            await asyncio.sleep(0.3)
            await scenario(env, handle)
            await asyncio.sleep(0.5)
            # The first run; and the latest too, if the case has continued as new since.
            first = env.client.get_workflow_handle(handle.id,
                                                   run_id=handle.first_execution_run_id)
            history = await first.fetch_history()
            (HERE / f"{name}.{tag}.json").write_text(
                json.dumps(history.to_json_dict(), indent=1))
            # Read from the history, not describe(): the time-skipping server's description
            # holds the Datetime search attributes in a form the SDK cannot decode (TypeError:
            # fromisoformat: argument must be str), which crashed the run after the first save.
            if history.events and history.events[-1].HasField(
                    "workflow_execution_continued_as_new_event_attributes"):
                latest = await env.client.get_workflow_handle(handle.id).fetch_history()
                (HERE / f"{name}_continued.{tag}.json").write_text(
                    json.dumps(latest.to_json_dict(), indent=1))


async def main(tag: str, names: list[str]) -> None:
    if any(HERE.glob(f"*.{tag}.json")):
        raise SystemExit(f"histories tagged {tag} exist: they guard old code; choose a new tag")
    unknown = set(names) - set(TIME_SKIPPING) - set(DEV_SERVER)
    if unknown:
        raise SystemExit(f"no such scenario: {', '.join(sorted(unknown))}")

    def chosen(scenarios: dict[str, Scenario]) -> dict[str, Scenario]:
        return {n: s for n, s in scenarios.items() if not names or n in names}

    with tempfile.TemporaryDirectory() as tmp:
        engine, schema, url = await test_database(Path(tmp))
        sessions = make_sessionmaker(engine)
        ts = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=temporal_test_server(), data_converter=CONVERTER)
        await register_search_attributes(ts.client)
        async with ts:
            await record(ts, chosen(TIME_SKIPPING), sessions, tag)
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=CONVERTER,
            search_attributes=sa.ALL) as dev:
            await record(dev, chosen(DEV_SERVER), sessions, tag)
        await drop(engine, schema, url)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))

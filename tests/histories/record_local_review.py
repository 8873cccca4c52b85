"""Record the LCSPR's workflow histories that tests/test_local_review_replay.py guards (run by
hand, then commit the JSON).

    .venv/bin/python -m tests.histories.record_local_review TAG

Files are `local_review/<scenario>.<TAG>.json` (beside the serious-incident histories that
`record.py` writes, in a folder of their own). Record a new tag when the LocalReview workflow
changes, and keep the old files: lcspr1 is the first LocalReview; lcspr2 adds a review told
that a bank holiday was added (the `calendar_changed` signal); lcspr3 the partners' agreement
to not publishing (patch "partners-not-publish"); lcspr4 (the same scenario) the final report's
fuller equality analysis (patch "equality-analysis"); lcspr5 a Flowchart 4 review's consent
before its terms of reference (patch "request-consent"); lcspr6 the findings and the YJB
submission after publication (patch "findings-communication"); lcspr7 (the not-publishing
scenario again) the LCSPR's own letters (patch "lcspr-letters": the notice at the start, the
full report's letter at the partners' endorsement; the recorder's worker has no mail
activities, so they fail there, as its alerts do); lcspr8 (the same scenario) the case told
of the final report's endorsement (patch "family-final-report"); lcspr9 its part written to the
case store by a local activity (patch "projection-local"). Payloads are encrypted with
the tests' fixed key; the ActionPlan child is the tests' stand-in (the parent's history holds
only the child's start and result).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.calendar import (
    CalendarChanged,
    CalendarChangeKind,
    WorkingDayCalendar,
    add_calendar_months,
    london_date,
)
from domain.reviews import ReviewKind
from infra.binaries import temporal_cli, temporal_test_server
from store import calendar as calendar_store
from store.db import Sessionmaker, make_sessionmaker
from tests.action_plan_stand_in import StandInActionPlan
from tests.conftest import CONVERTER, register_search_attributes
from tests.database import drop, test_database
from tests.local_reviews import (
    PARTNERS,
    TERMS,
    Handle,
    by_signal,
    by_update,
    dsp,
    review_when,
    review_worker,
    start_review,
    store_case,
    to_publication,
    to_review,
)
from workflows import search_attributes as sa
from workflows.ids import action_plan_id
from workflows.local_review import LocalReviewWorkflow

HERE = Path(__file__).parent / "local_review"
Scenario = Callable[[WorkflowEnvironment, Handle, date, Sessionmaker], Awaitable[None]]
CAL = WorkingDayCalendar()


async def supervision_overdue_then_late_publication(
    env: WorkflowEnvironment, handle: Handle, big_l: date, _: Sessionmaker
) -> None:
    send = by_signal(handle)
    await send("inform_panel", reviewer_name="A. Reviewer")
    await to_review(send)
    await env.sleep(timedelta(days=29))  # the first supervision request reminded, overdue
    await send("supervision_request", request="Progress and quality")
    await env.sleep(timedelta(days=16))  # the progress return reminded, then escalated
    await send("progress_return", request=1, progress="Late")
    expected = add_calendar_months(big_l, 7)
    await send("publication_delayed", reasons="Criminal trial",
               new_expected_date=expected.isoformat())
    await to_publication(send)
    await send("report_sent")
    await send("publication_planned", publication_date=expected.isoformat())
    await env.sleep(timedelta(days=200))  # the statutory six months pass
    today = london_date(await env.get_current_time())
    await send("published", published_on=today.isoformat())
    plan = env.client.get_workflow_handle(action_plan_id(handle.id.removesuffix("-LCSPR")))
    await plan.signal(StandInActionPlan.board_signoff, today)
    await handle.result()


async def updates_with_a_refused_publication_date(
    _: WorkflowEnvironment, handle: Handle, big_l: date, __: Sessionmaker
) -> None:
    send = by_update(handle)
    await to_review(send)
    await to_publication(send)
    try:  # refused in the handler, once the calendar has the date: in history as failed
        await send("publication_planned", publication_date=(big_l + timedelta(days=1))
                   .isoformat())
    except WorkflowUpdateFailedError:
        pass
    await send("report_sent")
    await send("publication_planned",
               publication_date=CAL.add_working_days(big_l, 10).isoformat())


async def bank_holiday_added_then_withdrawn(
    env: WorkflowEnvironment, handle: Handle, big_l: date, sessions: Sessionmaker
) -> None:
    """A day added between L and the Panel's deadline, then withdrawn: told twice; the review
    then goes on to its action plan."""
    send = by_signal(handle)
    await to_review(send)
    day = CAL.add_working_days(big_l, 2)
    for change in (CalendarChangeKind.ADDED, CalendarChangeKind.WITHDRAWN):
        async with sessions.begin() as session:
            if change is CalendarChangeKind.ADDED:
                await calendar_store.add_holiday(session, day, "A late bank holiday",
                                                 "recorder", datetime.now(UTC))
            else:
                await calendar_store.withdraw(session, day)
        await _tell(handle, CalendarChanged(day=day, change=change.value))
    await env.sleep(timedelta(days=10))  # the Panel's deadline passes: escalated
    await send("inform_panel", reviewer_name="A. Reviewer")
    await to_publication(send)  # the action plan starts (the stand-in)


async def partners_agree_not_to_publish(
    env: WorkflowEnvironment, handle: Handle, __: date, _: Sessionmaker
) -> None:
    """lcspr3: the decision not to publish awaits each partner's agreement (patch
    "partners-not-publish"); one agreement refused before the decision."""
    send = by_signal(handle)
    await send("inform_panel", reviewer_name="A. Reviewer")
    await to_review(send)
    await to_publication(send)
    await send("not_published_agreement", actor=dsp("health"), partner="health")  # refused
    await send("report_sent", report="full_report")
    await send("report_sent", report="improvements_information")
    await env.sleep(timedelta(days=14))
    today = london_date(await env.get_current_time())
    await send("not_published", justification="Would identify a sibling",
               improvements_published_on=today.isoformat())
    for p in PARTNERS:
        await send("not_published_agreement", actor=dsp(p), partner=p)
    plan = env.client.get_workflow_handle(action_plan_id(handle.id.removesuffix("-LCSPR")))
    await plan.signal(StandInActionPlan.board_signoff, today)
    await handle.result()


async def consent_then_terms_of_reference(
    _: WorkflowEnvironment, handle: Handle, big_l: date, __: Sessionmaker
) -> None:
    """lcspr5: a Flowchart 4 review's terms of reference refused before the family's consent
    or the data-protection check (patch "request-consent"), then accepted."""
    send = by_signal(handle)
    await send("terms_of_reference", **TERMS)  # refused: no consent yet
    await send("consent", sought_from="The child's mother", sought_on=big_l.isoformat(),
               given=False, data_protection_check="Necessary and proportionate",
               lawful_without_consent=True)
    await to_review(send)
    await to_publication(send)  # the action plan starts


async def findings_and_yjb_after_publication(
    env: WorkflowEnvironment, handle: Handle, _big_l: date, __: Sessionmaker
) -> None:
    """lcspr6: after publication, the findings to relevant parties and the published review to
    the YJB (the case had a YJB notification) fall due, are escalated, then recorded (patch
    "findings-communication")."""
    send = by_signal(handle)
    await send("inform_panel", reviewer_name="A. Reviewer")
    await to_review(send)
    await to_publication(send)
    await send("report_sent")
    await env.sleep(timedelta(days=14))
    today = london_date(await env.get_current_time())
    await send("published", published_on=today.isoformat())
    await env.sleep(timedelta(days=20))  # both overdue
    today = london_date(await env.get_current_time())
    await send("yjb_submission", submitted_on=today.isoformat())
    await send("findings_communicated", parties=["Schools"], communicated_on=today.isoformat(),
               method="Briefing")
    plan = env.client.get_workflow_handle(action_plan_id(handle.id.removesuffix("-LCSPR")))
    await plan.signal(StandInActionPlan.board_signoff, today)
    await handle.result()


async def _tell(handle: Handle, change: CalendarChanged) -> None:
    count = len((await handle.query(LocalReviewWorkflow.review)).events)
    await handle.signal("calendar_changed", change)
    await review_when(handle, lambda r: len(r.events) > count)


TIME_SKIPPING: dict[str, Scenario] = {
    "supervision_overdue_then_late_publication": supervision_overdue_then_late_publication,
    "bank_holiday_added_then_withdrawn": bank_holiday_added_then_withdrawn,
    "partners_agree_not_to_publish": partners_agree_not_to_publish,
    "consent_then_terms_of_reference": consent_then_terms_of_reference,
    "findings_and_yjb_after_publication": findings_and_yjb_after_publication,
}
# Scenarios of a Flowchart 4 review (the rest are serious cases').
KINDS = {"consent_then_terms_of_reference": ReviewKind.REQUEST}
# Scenarios whose case had a YJB notification.
YJB = {"findings_and_yjb_after_publication"}
DEV_SERVER: dict[str, Scenario] = {
    "updates_with_a_refused_publication_date": updates_with_a_refused_publication_date,
}


async def record(
    env: WorkflowEnvironment, scenarios: dict[str, Scenario], sessions: Sessionmaker, tag: str
) -> None:
    async with review_worker(env.client, sessions, StandInActionPlan) as worker:
        for name, scenario in scenarios.items():
            case_id = f"CSPR-2026-L{name[:7].upper()}"
            now = await env.get_current_time()
            await store_case(sessions, case_id, now)
            big_l = london_date(now)
            handle = await start_review(env.client, worker.task_queue, case_id, big_l,
                                        KINDS.get(name, ReviewKind.SERIOUS_INCIDENT),
                                        **({"yjb_notified": True} if name in YJB else {}))
            await review_when(handle, lambda r: r.clock_l is not None)
            await scenario(env, handle, big_l, sessions)
            await asyncio.sleep(0.5)
            history = await handle.fetch_history()
            (HERE / f"{name}.{tag}.json").write_text(
                json.dumps(history.to_json_dict(), indent=1))


async def main(tag: str) -> None:
    HERE.mkdir(exist_ok=True)
    if any(HERE.glob(f"*.{tag}.json")):
        raise SystemExit(f"histories tagged {tag} exist: they guard old code; choose a new tag")
    with tempfile.TemporaryDirectory() as tmp:
        engine, schema, url = await test_database(Path(tmp))
        sessions = make_sessionmaker(engine)
        ts = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=temporal_test_server(), data_converter=CONVERTER)
        await register_search_attributes(ts.client)
        async with ts:
            await record(ts, TIME_SKIPPING, sessions, tag)
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), data_converter=CONVERTER,
            search_attributes=sa.ALL) as dev:
            await record(dev, DEV_SERVER, sessions, tag)
        await drop(engine, schema, url)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

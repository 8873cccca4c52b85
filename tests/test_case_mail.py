"""The case workflow e-mails: its letters (the step done by the sending itself), the letters its
records call for, reminders and escalations; and what cannot go shows on the case.

A real SMTP server in the test process and a case store of this module's own, whose partner
directory lists exactly the people below. Updates run on the dev server (they are unreliable on
the time-skipping one); the reminders' timers on the time-skipping server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from domain.calendar import WorkingDayCalendar
from domain.case import CaseState, Channel, EventKind, Stage, StepStatus
from domain.decisions import Actor
from domain.directory import OrganisationKind
from domain.mail import long_date
from domain.permissions import Role
from domain.procedure import Partner, Step
from infra.mailer import SmtpMailer
from infra.settings import Settings
from store import directory
from store.db import Sessionmaker, make_sessionmaker
from tests import database
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS, as_role, http_client
from tests.factories import CHILD_REFERENCE, case_when, decision, start_case
from tests.scenarios import at_london, travel_to
from tests.smtp import Recorder
from worker import build_worker
from workflows.serious_incident import SeriousIncidentWorkflow

TRUST = "Northern Lincolnshire and Goole NHS Trust"
MARS = Actor(subject="mars@cspr.test", role="mars_team")
Handle = WorkflowHandle[SeriousIncidentWorkflow, Any]


def address(label: str) -> str:
    return f"{label.replace('/', '.').replace(' ', '').lower()}@cspr.test"


@pytest.fixture(scope="module")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sessionmaker]:
    """A case store whose directory lists one DSP and one SSL per partner, the MARS team and
    one person at the trust."""
    engine, schema, url = await database.test_database(Path(tmp_path_factory.mktemp("cmail")))
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        for partner in Partner:
            org = await directory.add_organisation(session, f"Partner {partner.value}",
                                                   OrganisationKind.PARTNER, partner)
            for role in (Role.DSP, Role.SSL):
                label = f"{role.value}/{partner.value}"
                await directory.add_person(session, org.id, label, address(label), role)
            if partner is Partner.LOCAL_AUTHORITY:
                await directory.add_person(session, org.id, "MARS", address("mars_team"),
                                           Role.MARS_TEAM)
        trust = await directory.add_organisation(session, TRUST, OrganisationKind.AGENCY)
        await directory.add_person(session, trust.id, "Trust lead", address("agency/trust"),
                                   Role.AGENCY)
    yield sessions
    await database.drop(engine, schema, url)


def worker_for(client: Any, store: Sessionmaker, mailer: SmtpMailer) -> Worker:
    return build_worker(client, f"tq-{uuid.uuid4()}", WorkingDayCalendar(), store,
                        mailer=mailer)


def recipients(messages: list[EmailMessage]) -> set[str]:
    return {m["To"].addresses[0].addr_spec for m in messages}


def attachment_names(message: EmailMessage) -> list[str]:
    return sorted(p.get_filename() or "" for p in message.iter_attachments())


async def until(check: Callable[[], bool], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("never happened")
        await asyncio.sleep(0.05)


async def send(handle: Handle, step: str, **fields: Any) -> CaseState:
    result: CaseState = await handle.execute_update(
        "send_letters", decision(step, MARS, **fields), result_type=CaseState)
    return result


async def record(handle: Handle, step: str, actor: Actor | None = None, **fields: Any) -> None:
    await handle.execute_update("record", decision(step, actor, **fields), result_type=CaseState)


def kinds(case: CaseState, kind: EventKind) -> list[str]:
    return [f"{e.step.value if e.step else '-'}: {e.detail}" for e in case.events
            if e.kind is kind]


async def test_the_letters_go_and_complete_their_steps(
    dev_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """inform_partners is done by the sending of Doc 2 and Doc 3; the SSLs' recommendation
    sends Doc 4 with Part A to the DSPs, the partners' decision Doc 4 with Part B; the
    agencies' letters complete agency_requests."""
    recorder, mailer = smtp
    client = dev_env.client
    async with worker_for(client, store, mailer) as worker:
        now = await dev_env.get_current_time()
        handle: Handle = await start_case(client, worker.task_queue,
                                          f"CSPR-2026-ML{uuid.uuid4().hex[:4]}", now)
        await case_when(handle, lambda c: c.clock_dates != {})
        case = await send(handle, "inform_partners")
        assert case.letters_in_flight in ([Step.INFORM_PARTNERS], [])

        case = await case_when(handle, lambda c: c.stage is Stage.SSL_RECOMMENDATION)
        assert case.letters_in_flight == []
        state = case.step(Step.INFORM_PARTNERS)
        assert state.status is StepStatus.DONE
        informed = [e for e in case.events if e.step is Step.INFORM_PARTNERS]
        assert [(e.kind, e.channel) for e in informed] == [
            (EventKind.LETTERS_REQUESTED, Channel.API), (EventKind.LETTERS_SENT, Channel.SYSTEM),
            (EventKind.RECORDED, Channel.API)]
        assert informed[1].detail == "6 sent of 6"
        assert informed[2].actor == MARS  # recorded for whoever asked for the letters
        dsps = {address(f"dsp/{p.value}") for p in Partner}
        ssls = {address(f"ssl/{p.value}") for p in Partner}
        assert recipients(recorder.messages) == dsps | ssls
        for message in recorder.messages:
            names = attachment_names(message)
            assert all(n.startswith(case.case_id) and n.endswith(".docx") for n in names)
            assert any("-doc4" in n for n in names)
            assert any("-doc2" in n or "-doc3" in n for n in names)
            # No child's details where anyone's mail client shows them.
            assert CHILD_REFERENCE not in message["Subject"]
            assert case.case_id in message["Subject"]

        # The SSLs' recommendation: Doc 4 with Part A to the DSPs, by the service itself.
        recorder.messages.clear()
        await record(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Met")
        await until(lambda: recipients(recorder.messages) == dsps)
        # All three DSPs agree: Doc 4 with Part B to the MARS team, SSLs and DSPs.
        recorder.messages.clear()
        for partner in Partner:
            await record(handle, "dsp_decision", partner=partner.value, criteria_met=True,
                         rationale="Met")
        await until(lambda: recipients(recorder.messages)
                    == dsps | ssls | {address("mars_team")})

        # The rapid review's letters to the trust: agency_requests done by their sending.
        recorder.messages.clear()
        await send(handle, "agency_requests", agencies=[TRUST])
        case = await case_when(handle, lambda c: c.step(Step.AGENCY_REQUESTS).completion
                               is not None)
        assert recipients(recorder.messages) == {address("agency/trust")}
        assert case.step(Step.AGENCY_REPORTS).expected_parties == [TRUST]
        assert kinds(case, EventKind.MAIL_FAILED) == []
        await handle.terminate("test over")


async def test_letters_that_cannot_reach_everyone_leave_the_step_open(
    dev_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """An agency nobody in the directory speaks for: the others' letters go, the case shows
    who is missing, and the step waits (asked again, only those without letters get them)."""
    recorder, mailer = smtp
    client = dev_env.client
    async with worker_for(client, store, mailer) as worker:
        now = await dev_env.get_current_time()
        handle: Handle = await start_case(client, worker.task_queue,
                                          f"CSPR-2026-MM{uuid.uuid4().hex[:4]}", now)
        await case_when(handle, lambda c: c.clock_dates != {})
        await record(handle, "inform_partners", MARS)  # recorded by hand: sent another way
        await record(handle, "ssl_recommendation", criteria_met=True,
                     recommend_panel_notification=True, rationale="Met")
        for partner in Partner:
            await record(handle, "dsp_decision", partner=partner.value, criteria_met=True,
                         rationale="Met")
        await case_when(handle, lambda c: c.stage is Stage.RAPID_REVIEW)
        await until(lambda: len(recorder.messages) == 10)  # Doc 4 A (3 DSPs), B (7)
        recorder.messages.clear()

        await send(handle, "agency_requests", agencies=[TRUST, "Unlisted Academy"])
        case = await case_when(handle, lambda c: bool(kinds(c, EventKind.MAIL_FAILED)))
        assert kinds(case, EventKind.MAIL_FAILED) == [
            "agency_requests: 1 sent of 1; nobody in the directory for agency/Unlisted Academy"]
        assert case.step(Step.AGENCY_REQUESTS).completion is None
        assert case.letters_in_flight == []
        assert recipients(recorder.messages) == {address("agency/trust")}

        # Asked again for the trust alone: it has had its letters, nothing goes twice.
        recorder.messages.clear()
        await send(handle, "agency_requests", agencies=[TRUST])
        case = await case_when(handle, lambda c: c.step(Step.AGENCY_REQUESTS).completion
                               is not None)
        assert recorder.messages == []
        await handle.terminate("test over")


async def test_letters_asked_for_twice_while_sending_are_refused(
    dev_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """The SMTP server says "try later": the letters are retried in the background, the case
    is not held up, and a second request meanwhile is refused."""
    recorder, mailer = smtp
    recorder.refuse = ["451 4.3.0 Try again later"] * 50
    client = dev_env.client
    async with worker_for(client, store, mailer) as worker:
        now = await dev_env.get_current_time()
        handle: Handle = await start_case(client, worker.task_queue,
                                          f"CSPR-2026-MR{uuid.uuid4().hex[:4]}", now)
        await case_when(handle, lambda c: c.clock_dates != {})
        case = await send(handle, "inform_partners")
        assert case.letters_in_flight == [Step.INFORM_PARTNERS]
        with pytest.raises(WorkflowUpdateFailedError) as exc:
            await send(handle, "inform_partners")
        assert "its letters are being sent" in str(exc.value.cause)
        case = await handle.query(SeriousIncidentWorkflow.case)
        assert case.step(Step.INFORM_PARTNERS).completion is None
        assert recorder.messages == []
        await handle.terminate("test over")


async def test_reminders_and_escalations_are_emailed(
    time_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """The reminder before inform_partners is due goes to the MARS team; when it passes, the
    escalation goes to the MARS team and the SSLs."""
    recorder, mailer = smtp
    client = time_env.client
    async with worker_for(client, store, mailer) as worker:
        now = await time_env.get_current_time()
        monday = (now + timedelta(days=14 - now.weekday())).date()
        while not all(WorkingDayCalendar().is_working_day(monday + timedelta(days=d))
                      for d in range(3)):
            monday += timedelta(days=7)
        await travel_to(time_env, at_london(monday, 10))
        handle: Handle = await start_case(client, worker.task_queue,
                                          f"CSPR-2026-MA{uuid.uuid4().hex[:4]}",
                                          await time_env.get_current_time())
        await case_when(handle, lambda c: c.clock_dates != {})
        # inform_partners is due Tuesday: reminded at 09:00 on Monday (passed) -> on the day.
        await travel_to(time_env, at_london(monday + timedelta(days=1), 9, 30))
        await until(lambda: any("reminder" in m["Subject"] for m in recorder.messages))
        reminders = [m for m in recorder.messages if "reminder" in m["Subject"]]
        assert recipients(reminders) == {address("mars_team")}
        assert "Inform the partners" in reminders[0]["Subject"] or \
            "inform" in reminders[0]["Subject"].lower()

        await travel_to(time_env, at_london(monday + timedelta(days=2), 0, 10))
        await until(lambda: any("reminder" not in m["Subject"] for m in recorder.messages))
        escalations = [m for m in recorder.messages if "reminder" not in m["Subject"]]
        assert recipients(escalations) == {address("mars_team")} | {
            address(f"ssl/{p.value}") for p in Partner}
        for message in recorder.messages:
            assert CHILD_REFERENCE not in message["Subject"]
            assert CHILD_REFERENCE not in message.get_content()
        await handle.terminate("test over")


async def test_letters_through_the_api(
    dev_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """POST /v1/cases/{id}/letters/inform-partners: the MARS team asks, an SSL may not; the
    documents are kept with the case and the mail list shows each message sent."""
    recorder, mailer = smtp
    async with worker_for(dev_env.client, store, mailer) as worker:
        settings = Settings(encryption_keys=TEST_KEYS, task_queue=worker.task_queue,
                            jwt_secret=TEST_JWT_SECRET)
        app = create_app(settings, dev_env.client, store)
        async with app.router.lifespan_context(app), \
                http_client(app, as_role("mars_team")) as api:
            # An id of its own: this test's store numbers from 0001, and the session's dev
            # server already holds cases with those ids from other tests.
            made = await api.post("/v1/notifications", json={
                **_notification(), "case_id": f"CSPR-2026-M{uuid.uuid4().hex[:8].upper()}"})
            assert made.status_code == 201, made.text
            case_id = made.json()["case_id"]
            path = f"/v1/cases/{case_id}/letters/inform-partners"
            refused = await api.post(path, headers=as_role("ssl", "health"))
            assert refused.status_code == 403
            sent = await api.post(path)
            assert sent.status_code == 200, sent.text
            await _until_stage(api, case_id, "ssl_recommendation")
            documents = (await api.get(f"/v1/cases/{case_id}/documents")).json()
            assert {d["kind"] for d in documents} == {"doc2", "doc3", "doc4"}
            mail = (await api.get(f"/v1/cases/{case_id}/mail")).json()
            assert len(mail) == 6
            assert {m["status"] for m in mail} == {"sent"}
            again = await api.post(path)
            assert again.status_code == 409  # the step is done
            bad = await api.post(f"/v1/cases/{case_id}/letters/agency-requests",
                                 json={"agencies": []})
            assert bad.status_code == 422
            assert bad.json()["errors"][0]["field"] == "agencies"
    assert len(recorder.messages) == 6


def _notification() -> dict[str, Any]:
    return {"notifying_agency": "Humberside Police",
            "incident": {"date": "2026-11-20", "harm": "serious_harm",
                         "abuse_or_neglect": "suspected"},
            "children": [{"reference": f"API-MAIL-{uuid.uuid4().hex[:8]}"}]}


async def _until_stage(api: AsyncClient, case_id: str, stage: str) -> None:
    for _ in range(300):
        if (await api.get(f"/v1/cases/{case_id}")).json()["stage"] == stage:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached {stage}")





async def test_the_submissions_two_deadlines_each_say_what_they_are(
    time_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """Issue 9, item 2: the submission is due "within 15 working days" of the DSPs' decision
    (North Lincolnshire's D+15, local) and within 15 working days of the Panel notification
    (P+15, statutory). When D+15 passes with P+15 still ahead, the escalation says a local
    target passed and names the statutory date to come; at P+15 it names P+15's own date."""
    recorder, mailer = smtp
    client = time_env.client
    calendar = WorkingDayCalendar()
    async with worker_for(client, store, mailer) as worker:
        now = await time_env.get_current_time()
        monday = (now + timedelta(days=14 - now.weekday())).date()
        await travel_to(time_env, at_london(monday, 10))
        handle: Handle = await start_case(client, worker.task_queue,
                                          f"CSPR-2026-SU{uuid.uuid4().hex[:4]}",
                                          await time_env.get_current_time())
        await case_when(handle, lambda c: c.clock_dates != {})
        await handle.signal("record", decision("inform_partners"))
        await handle.signal("record", decision(
            "ssl_recommendation", criteria_met=True, recommend_panel_notification=True,
            rationale="Known injuries"))
        for partner in Partner:
            await handle.signal("record", decision("dsp_decision", partner=partner.value,
                                                   criteria_met=True, rationale="Met"))
        case = await case_when(handle, lambda c: c.stage is Stage.RAPID_REVIEW
                               and c.step(Step.RAPID_REVIEW_SUBMISSION).due_date is not None)
        local = case.step(Step.RAPID_REVIEW_SUBMISSION).due_date
        assert local is not None
        # The Panel is told three working days later: P+15 comes after D+15.
        await travel_to(time_env, at_london(calendar.add_working_days(monday, 3), 11))
        await handle.signal("record", decision(
            "panel_notification", reference="CSPN-2", notified_at=(
                await time_env.get_current_time()).isoformat()))
        case = await case_when(handle, lambda c: all(
            d.due_date is not None for d in c.step(Step.RAPID_REVIEW_SUBMISSION).deadlines))
        statutory = next(d.due_date for d in case.step(Step.RAPID_REVIEW_SUBMISSION).deadlines
                         if d.kind.value == "statutory")
        assert statutory is not None
        assert statutory > local

        def submission_escalations() -> list[EmailMessage]:
            return [m for m in recorder.messages if "overdue" in m["Subject"]
                    and "submitted to the Panel" in m["Subject"]]

        await travel_to(time_env, at_london(local + timedelta(days=1), 0, 10))
        await until(lambda: bool(submission_escalations()))
        first = submission_escalations()[0]
        body = first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert f"was due {long_date(local)}" in first["Subject"]
        assert "This local target has passed" in body
        assert f"The statutory deadline for this step, {long_date(statutory)}, is still to " \
               "come." in body
        assert "statutory deadline has passed" not in body

        count = len(submission_escalations())
        await travel_to(time_env, at_london(statutory + timedelta(days=1), 0, 10))
        await until(lambda: len(submission_escalations()) > count)
        last = submission_escalations()[-1]
        body = last.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert f"was due {long_date(statutory)}" in last["Subject"]
        assert "This statutory deadline has passed" in body
        assert f"Due: {long_date(statutory)} (statutory)" in body
        await handle.terminate("test over")

"""An e-mail cut off mid-send never blocks its step for ever, and is never silently lost
(issue 11, item 7): through the real API, workflow, case store and SMTP server.

Two of the partners' letters are cut off while they are handed over: one had in fact arrived
(the DSP confirms it), the other had not. The MARS team sees both `uncertain` on the mail list,
settles each with one action, and `inform_partners` is done once everyone has had its letters.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.calendar import WorkingDayCalendar
from infra.mailer import HandOver, MailUncertain, SmtpMailer
from infra.settings import Settings
from store.db import Sessionmaker
from store.models import AuditEvent, IdempotencyRecord, OutboxMessage
from tests.conftest import CONVERTER, TEST_JWT_SECRET, TEST_KEYS, as_role, http_client
from tests.mail_directory import directory_store
from tests.smtp import Recorder
from tests.test_retries import Faults, _Faulty
from worker import build_worker

ARRIVED = "dsp.health@cspr.test"  # cut off after the server had taken it
LOST = "ssl.police@cspr.test"  # cut off before it had


@pytest.fixture(scope="module")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sessionmaker]:
    async with directory_store(tmp_path_factory.mktemp("resolve")) as sessions:
        yield sessions


class CutsOffTwo:
    """The SMTP server, but the connection drops once DATA has begun for two addresses (the
    first time each is sent to)."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer
        self.cut: set[str] = set()

    async def send(self, message: EmailMessage, hand_over: HandOver | None = None) -> None:
        to = message["To"].addresses[0].addr_spec
        if to in (ARRIVED, LOST) and to not in self.cut:
            self.cut.add(to)
            if to == ARRIVED:
                await self.mailer.send(message, hand_over)
            elif hand_over is not None:
                assert await hand_over()
            raise MailUncertain(None, "connection lost while the message was being handed "
                                      "over: SMTPServerDisconnected")
        await self.mailer.send(message, hand_over)


async def test_uncertain_letters_are_settled_by_the_mars_team_and_the_step_completes(
    dev_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    recorder, mailer = smtp
    async with build_worker(dev_env.client, f"tq-{uuid.uuid4()}", WorkingDayCalendar(), store,
                            mailer=CutsOffTwo(mailer)) as worker:
        settings = Settings(encryption_keys=TEST_KEYS, task_queue=worker.task_queue,
                            jwt_secret=TEST_JWT_SECRET)
        app = create_app(settings, dev_env.client, store)
        async with app.router.lifespan_context(app), \
                http_client(app, as_role("mars_team")) as api:
            # An id of its own: this module's store numbers from 0001, and the session's dev
            # server already holds cases with those ids from other tests.
            made = await api.post("/v1/notifications", json={
                **_notification(), "case_id": f"CSPR-2026-R{uuid.uuid4().hex[:8].upper()}"})
            assert made.status_code == 201, made.text
            case_id = made.json()["case_id"]
            sent = await api.post(f"/v1/cases/{case_id}/letters/inform-partners")
            assert sent.status_code == 200, sent.text
            case = await _until(api, case_id, lambda c: any(
                e["kind"] == "mail_failed" for e in c["events"]))
            assert case["stage"] == "notified"  # the step waits: two may not have gone
            failed = [e["detail"] for e in case["events"] if e["kind"] == "mail_failed"]
            assert "2 may not have gone" in failed[0]

            mail = {m["to_address"]: m for m in
                    (await api.get(f"/v1/cases/{case_id}/mail")).json()}
            assert {a for a, m in mail.items() if m["status"] == "uncertain"} == {ARRIVED, LOST}
            arrived, lost = mail[ARRIVED]["id"], mail[LOST]["id"]
            path = f"/v1/cases/{case_id}/mail/{{}}/resolution"

            # Only the MARS team settles an e-mail; a bad outcome changes nothing.
            ssl = await api.post(path.format(arrived), json={"outcome": "received"},
                                 headers=as_role("ssl", "health"))
            assert ssl.status_code == 403
            bad = await api.post(path.format(arrived), json={"outcome": "maybe"})
            assert bad.status_code == 422
            assert bad.json()["errors"][0]["field"] == "outcome"
            other = await api.post(path.format(999_999), json={"outcome": "received"})
            assert other.status_code == 404

            # The DSP confirms: received. The step still waits for the other.
            got = await api.post(path.format(arrived), json={"outcome": "received"})
            assert got.status_code == 200, got.text
            again = await api.post(path.format(arrived), json={"outcome": "received"})
            assert again.status_code == 409
            case = await _until(api, case_id, lambda c: sum(
                e["kind"] == "mail_failed" for e in c["events"]) >= 2)
            assert case["stage"] == "notified"

            # The other had not arrived: sent again, marked, with its Message-ID.
            before = len(recorder.messages)
            resend = await api.post(path.format(lost), json={"outcome": "resend"})
            assert resend.status_code == 200, resend.text
            case = await _until(api, case_id, lambda c: c["stage"] == "ssl_recommendation")
            kinds = [e["kind"] for e in case["events"]]
            assert kinds.count("mail_resolved") == 2
            assert kinds[-3:] == ["letters_sent", "recorded", "stage"]

            resent = recorder.messages[before:]
            assert [m["To"].addresses[0].addr_spec for m in resent] == [LOST]
            outbox = {m["id"]: m for m in (await api.get(f"/v1/cases/{case_id}/mail")).json()}
            async with store() as session:
                row = await session.get(OutboxMessage, lost)
            assert row is not None
            assert row.resend
            assert resent[0]["Message-ID"] == row.message_id  # the one it was first sent with
            assert str(resent[0]["Subject"]).strip().startswith("Resent: ")
            assert resent[0]["Resent-Date"] is not None
            text = resent[0].get_body(("plain",))
            assert text is not None
            assert "sent again" in text.get_content()
            assert outbox[lost]["status"] == "sent"
            assert outbox[arrived]["status"] == "sent"
            assert outbox[arrived]["last_error"] == "confirmed received by the MARS team"
            # Everyone has had the letters once, the one not arrived twice in all: never lost.
            to = [m["To"].addresses[0].addr_spec for m in recorder.messages]
            assert to.count(ARRIVED) == 1
            assert to.count(LOST) == 1
            assert len(set(to)) == 6



async def test_a_closed_cases_uncertain_letters_are_settled_too(
    dev_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """A case whose workflow has closed with two letters in doubt (issue 11, item 7): the MARS
    team still settles each with the same action (it was a 409), a resend goes once with its
    first Message-ID, and each outcome is a line of the case's audit trail (part "mail")."""
    recorder, mailer = smtp
    async with build_worker(dev_env.client, f"tq-{uuid.uuid4()}", WorkingDayCalendar(), store,
                            mailer=CutsOffTwo(mailer)) as worker:
        settings = Settings(encryption_keys=TEST_KEYS, task_queue=worker.task_queue,
                            jwt_secret=TEST_JWT_SECRET)
        app = create_app(settings, dev_env.client, store)
        async with app.router.lifespan_context(app), \
                http_client(app, as_role("mars_team")) as api:
            made = await api.post("/v1/notifications", json={
                **_notification(), "case_id": f"CSPR-2026-C{uuid.uuid4().hex[:8].upper()}"})
            assert made.status_code == 201, made.text
            case_id = made.json()["case_id"]
            sent = await api.post(f"/v1/cases/{case_id}/letters/inform-partners")
            assert sent.status_code == 200, sent.text
            await _until(api, case_id, lambda c: any(
                e["kind"] == "mail_failed" for e in c["events"]))
            mail = {m["to_address"]: m for m in
                    (await api.get(f"/v1/cases/{case_id}/mail")).json()}
            arrived, lost = mail[ARRIVED]["id"], mail[LOST]["id"]
            await dev_env.client.get_workflow_handle(case_id).terminate("closed for the test")
            path = f"/v1/cases/{case_id}/mail/{{}}/resolution"

            got = await api.post(path.format(arrived), json={"outcome": "received"})
            assert got.status_code == 200, got.text
            assert got.json()["source"] == "store"
            before = len(recorder.messages)
            resend = await api.post(path.format(lost), json={"outcome": "resend"},
                                    headers={"Idempotency-Key": f"resend-{uuid.uuid4()}"})
            assert resend.status_code == 200, resend.text

            for _ in range(300):
                outbox = {m["id"]: m for m in
                          (await api.get(f"/v1/cases/{case_id}/mail")).json()}
                if outbox[lost]["status"] == "sent" and outbox[arrived]["status"] == "sent":
                    break
                await asyncio.sleep(0.1)
            assert outbox[arrived]["last_error"] == "confirmed received by the MARS team"
            assert outbox[lost]["status"] == "sent"
            resent = recorder.messages[before:]
            assert [m["To"].addresses[0].addr_spec for m in resent] == [LOST]
            async with store() as session:
                row = await session.get(OutboxMessage, lost)
                assert row is not None
                assert row.resend
                assert resent[0]["Message-ID"] == row.message_id
                trail = []
                for _ in range(100):
                    trail = [(a.kind, a.detail, a.actor_role) for a in await session.scalars(
                        select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                 AuditEvent.part == "mail")
                        .order_by(AuditEvent.sequence))]
                    if len(trail) == 3:
                        break
                    await asyncio.sleep(0.1)
                    session.expire_all()
            assert trail == [
                ("mail_resolved", f"message {arrived} confirmed received (the case is closed)",
                 "mars_team"),
                ("mail_resolved", f"message {lost} to be sent again (the case is closed)",
                 "mars_team"),
                ("mail_sent", f"message {lost} resend: 1 sent of 1", "mars_team"),
            ]
            # Settled once: asked again, nothing more is sent or written.
            again = await api.post(path.format(lost), json={"outcome": "resend"})
            assert again.status_code == 409
            to = [m["To"].addresses[0].addr_spec for m in recorder.messages]
            assert to.count(LOST) == 1
            assert to.count(ARRIVED) == 1


async def _until(api: Any, case_id: str, ready: Any) -> dict[str, Any]:
    for _ in range(300):
        case: dict[str, Any] = (await api.get(f"/v1/cases/{case_id}")).json()
        if ready(case):
            return case
        await asyncio.sleep(0.1)
    raise AssertionError(f"never ready: {case['stage']}")


def _notification() -> dict[str, Any]:
    return {"notifying_agency": "Humberside Police",
            "incident": {"date": "2026-11-20", "harm": "serious_harm",
                         "abuse_or_neglect": "suspected"},
            "children": [{"reference": f"API-RES-{uuid.uuid4().hex[:8]}"}]}


async def test_a_settling_whose_answer_was_lost_gets_the_first_answer_on_retry(
    dev_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """The fault suite found it: the MARS team's resolution applied, its answer lost (a 503
    while Temporal restarted); the retry with the same Idempotency-Key was answered 409
    "Message not uncertain" by a check made before the key was looked at, and the first
    attempt's claim was left in progress for ever. The retry gets the first answer."""
    _, mailer = smtp
    faults = Faults()
    client = Client(dev_env.client.service_client, namespace=dev_env.client.namespace,
                    data_converter=CONVERTER, interceptors=[_Faulty(faults)])
    async with build_worker(dev_env.client, f"tq-{uuid.uuid4()}", WorkingDayCalendar(), store,
                            mailer=CutsOffTwo(mailer)) as worker:
        settings = Settings(encryption_keys=TEST_KEYS, task_queue=worker.task_queue,
                            jwt_secret=TEST_JWT_SECRET)
        app = create_app(settings, client, store)
        async with app.router.lifespan_context(app), \
                http_client(app, as_role("mars_team")) as api:
            made = await api.post("/v1/notifications", json={
                **_notification(), "case_id": f"CSPR-2026-R{uuid.uuid4().hex[:8].upper()}"})
            assert made.status_code == 201, made.text
            case_id = made.json()["case_id"]
            sent = await api.post(f"/v1/cases/{case_id}/letters/inform-partners")
            assert sent.status_code == 200, sent.text
            await _until(api, case_id, lambda c: any(
                e["kind"] == "mail_failed" for e in c["events"]))
            mail = {m["to_address"]: m for m in
                    (await api.get(f"/v1/cases/{case_id}/mail")).json()}
            path = f"/v1/cases/{case_id}/mail/{mail[ARRIVED]['id']}/resolution"
            key = {"Idempotency-Key": str(uuid.uuid4())}

            faults.lose.add("resolve_mail")
            lost = await api.post(path, json={"outcome": "received"}, headers=key)
            assert lost.status_code == 503, lost.text
            retried = await api.post(path, json={"outcome": "received"}, headers=key)
            assert retried.status_code == 200, retried.text
            assert (await api.post(path, json={"outcome": "received"}, headers=key)
                    ).json() == retried.json()
            # Without a key it is a new request: refused, the message is no longer uncertain.
            assert (await api.post(path, json={"outcome": "received"})).status_code == 409
            case = (await api.get(f"/v1/cases/{case_id}")).json()
            assert [e["kind"] for e in case["events"]].count("mail_resolved") == 1
            async with store() as session:
                left = await session.scalar(select(func.count()).select_from(
                    IdempotencyRecord).where(IdempotencyRecord.status_code == 0))
            assert left == 0

"""An uncertain e-mail settled from the case page (issue 10: "every step the API records" has
its form; issue 11, item 7's settling of an e-mail cut off mid-send was curl only): two of the
partners' letters are cut off while they are handed over; the MARS team sees them uncertain on
the case page, confirms one received and has the other sent again with its buttons, and the
step is done once everyone has had the letters. Only the MARS team is offered (and allowed)
the buttons; a second press settles nothing twice. The real app, dev server, worker, case store
and SMTP server."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.calendar import WorkingDayCalendar
from domain.permissions import Role
from infra.mailer import SmtpMailer
from infra.settings import Settings
from store.db import Sessionmaker
from tests.conftest import TEST_JWT_SECRET, TEST_KEYS, as_role, http_client
from tests.smtp import Recorder
from tests.test_mail_resolution import (  # noqa: F401 (fixtures)
    ARRIVED,
    LOST,
    CutsOffTwo,
    _notification,
    store,
)
from web import session
from worker import build_worker

FORM = re.compile(r'<form method="post" action="(/cases/[^"]+/mail/(\d+)/resolution)">\s*'
                  r'<input type="hidden" name="csrf_token" value="[^"]*">\s*'
                  r'<input type="hidden" name="idempotency_key" value="([^"]+)">')


def browser(app: FastAPI, role: Role, org: str | None = None) -> tuple[AsyncClient, str]:
    person = session.new_person(f"{role.value}@cspr.test", "Tester", role, org)
    client = http_client(app)
    client.cookies.update({session.COOKIE: session.encode(app.state.settings, person)})
    return client, person.csrf


async def test_uncertain_letters_are_settled_from_the_case_page(
    dev_env: WorkflowEnvironment, store: Sessionmaker,  # noqa: F811
    smtp: tuple[Recorder, SmtpMailer],
) -> None:
    recorder, mailer = smtp
    async with build_worker(dev_env.client, f"tq-{uuid.uuid4()}", WorkingDayCalendar(), store,
                            mailer=CutsOffTwo(mailer)) as worker:
        settings = Settings(encryption_keys=TEST_KEYS, task_queue=worker.task_queue,
                            jwt_secret=TEST_JWT_SECRET)
        app = create_app(settings, dev_env.client, store)
        async with app.router.lifespan_context(app), \
                http_client(app, as_role("mars_team")) as api:
            # An id of its own (this module's store numbers from 0001; the dev server holds
            # other tests' cases with those ids): opened through the API for that only.
            made = await api.post("/v1/notifications", json={
                **_notification(), "case_id": f"CSPR-2026-W{uuid.uuid4().hex[:8].upper()}"})
            assert made.status_code == 201, made.text
            case_id = made.json()["case_id"]
            mars, csrf = browser(app, Role.MARS_TEAM)
            dsp, dsp_csrf = browser(app, Role.DSP, "health")
            case_page = f"/cases/{case_id}"
            sent = await mars.post(f"{case_page}/steps/inform-partners", data={
                "csrf_token": csrf, "idempotency_key": uuid.uuid4().hex})
            assert sent.status_code == 303
            forms: list[Any] = []
            for _ in range(300):
                page = (await mars.get(case_page)).text
                forms = FORM.findall(page)
                if len(forms) == 2:
                    break
                await asyncio.sleep(0.1)
            assert len(forms) == 2, "the two cut-off letters never showed as uncertain"
            assert "Send again" in page
            # A DSP reads the case but is offered no button, and its post changes nothing.
            assert "/resolution" not in (await dsp.get(case_page)).text
            refused = await dsp.post(forms[0][0], data={"csrf_token": dsp_csrf,
                                                        "outcome": "received"})
            assert refused.status_code == 403
            # Which form is whose: the mail list names the recipient's address.
            mail = {m["id"]: m["to_address"] for m in
                    (await api.get(f"/v1/cases/{case_id}/mail")).json()}
            by_address = {mail[int(message)]: (action, key) for action, message, key in forms}
            action, key = by_address[ARRIVED]
            got = await mars.post(action, data={"csrf_token": csrf, "idempotency_key": key,
                                                "outcome": "received"})
            assert got.status_code == 303, got.text
            again = await mars.post(action, data={"csrf_token": csrf, "idempotency_key": key,
                                                  "outcome": "received"})
            # Pressed again (the same form, its Idempotency-Key): the first press's answer, or
            # refused as no longer uncertain where the API checks that before the key; either
            # way nothing is settled twice (two mail_resolved in all, below).
            assert again.status_code in (303, 409)
            if again.status_code == 409:
                assert "only an uncertain message" in again.text
            # Without a choice: refused, nothing changed.
            action, key = by_address[LOST]
            bad = await mars.post(action, data={"csrf_token": csrf, "idempotency_key": key})
            assert bad.status_code == 422
            before = len(recorder.messages)
            resend = await mars.post(action, data={"csrf_token": csrf, "idempotency_key": key,
                                                   "outcome": "resend"})
            assert resend.status_code == 303, resend.text
            for _ in range(300):
                page = (await mars.get(case_page)).text
                if "/resolution" not in page and re.search(
                        r"Stage\s*</dt>\s*<dd[^>]*>\s*SSL recommendation", page):
                    break
                await asyncio.sleep(0.1)
            assert "/resolution" not in page  # nothing uncertain is left
            case = (await api.get(f"/v1/cases/{case_id}")).json()
            assert case["stage"] == "ssl_recommendation"
            assert [e["kind"] for e in case["events"]].count("mail_resolved") == 2
            resent = [m["To"].addresses[0].addr_spec for m in recorder.messages[before:]]
            assert resent == [LOST]  # sent again once; the received one never again
            await mars.aclose()
            await dsp.aclose()

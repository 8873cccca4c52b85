"""Issue 9: "The service also writes the LCSPR's own letters and e-mails: informing the Panel,
Ofsted and DfE; the full report to the Panel, Secretary of State and Ofsted; a delay's reasons"
(patch "lcspr-letters"). Written with the letters machinery (a .docx kept with the case) and
e-mailed through the outbox to the MARS team and the DSPs, who send them on "via the Children's
MARS Team", as Doc 12. A real SMTP server and a case store of the test's own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import update
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingDayCalendar
from domain.case import CaseState
from domain.directory import OrganisationKind
from domain.local_review import ReviewStage
from domain.permissions import Role
from domain.procedure import CURRENT_PROCEDURE, Partner
from infra.mailer import SmtpMailer
from store import directory
from store.db import Sessionmaker, make_sessionmaker
from store.models import Case
from tests import database
from tests.action_plan_stand_in import StandInActionPlan
from tests.factories import notification
from tests.local_reviews import (
    by_signal,
    review_case_id,
    review_when,
    start_review,
    store_case,
    to_publication,
    to_review,
)
from tests.scenarios import LONDON, at_london, travel_to
from tests.smtp import Recorder
from tests.test_letters import text_of
from worker import build_worker
from workflows.local_review import LocalReviewWorkflow

MARS_ADDRESS = "mars@cspr.test"


@pytest.fixture(scope="module")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sessionmaker]:
    """A directory with the MARS team and one DSP per partner."""
    engine, schema, url = await database.test_database(Path(tmp_path_factory.mktemp("lett")))
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        for partner in Partner:
            org = await directory.add_organisation(session, f"Partner {partner.value}",
                                                   OrganisationKind.PARTNER, partner)
            await directory.add_person(session, org.id, f"DSP {partner.value}",
                                       f"dsp.{partner.value}@cspr.test", Role.DSP)
            if partner is Partner.LOCAL_AUTHORITY:
                await directory.add_person(session, org.id, "MARS", MARS_ADDRESS,
                                           Role.MARS_TEAM)
    yield sessions
    await database.drop(engine, schema, url)


def letters(server: Recorder, subject: str) -> list[EmailMessage]:
    return [m for m in server.messages if subject in str(m["Subject"])]


async def received(server: Recorder, subject: str, count: int = 4) -> list[EmailMessage]:
    for _ in range(300):
        found = letters(server, subject)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {subject!r} to everyone: {[m['Subject'] for m in server.messages]}")


def attached(message: EmailMessage) -> str:
    part = next(message.iter_attachments())
    content = part.get_content()
    assert isinstance(content, bytes)
    return text_of(content)


async def test_the_lcspr_writes_its_notice_its_full_reports_letter_and_a_delays_reasons(
    time_env: WorkflowEnvironment, store: Sessionmaker,
    smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """"Notify the Panel, Ofsted and DfE as soon as the safeguarding partners have determined
    that a local review will be carried out", "send a copy of the full report to the Panel
    and to the Secretary of State no later than seven working days before the date of
    publication", and "inform the Panel and the Secretary of State of the reasons for the
    delay": each letter written by the service and e-mailed to those who send it."""
    server, mailer = smtp
    client = time_env.client
    now = (await time_env.get_current_time()).astimezone(LONDON).date()
    big_l = now + timedelta(days=7 - now.weekday())
    await travel_to(time_env, at_london(big_l, 10))
    cid = review_case_id()
    await store_case(store, cid, at_london(big_l, 9))
    # The case as the store holds it (the case projects itself before it starts its LCSPR).
    case = CaseState.open_case(cid, CURRENT_PROCEDURE, notification(at_london(big_l, 9)))
    async with store.begin() as session:
        await session.execute(update(Case).where(Case.case_id == cid).values(
            snapshot=case.model_dump(mode="json")))
    async with build_worker(client, f"tq-{uuid.uuid4()}", WorkingDayCalendar(), store,
                            [LocalReviewWorkflow, StandInActionPlan], mailer=mailer) as worker:
        handle = await start_review(client, worker.task_queue, cid, big_l)
        review = await review_when(handle, lambda r: r.clock_l is not None)
        assert review.writes_letters
        notices = await received(server, "notice of a local child safeguarding practice review")
        assert {m["To"].addresses[0].addr_spec for m in notices} == {
            MARS_ADDRESS, *(f"dsp.{p.value}@cspr.test" for p in Partner)}
        notice = attached(notices[0])
        assert "Ofsted and the Department for Education" in notice
        assert cid in notice
        assert "Not yet commissioned" in notice  # the name follows (procedure r4)

        send = by_signal(handle)
        await send("inform_panel")
        await to_review(send)
        await send("publication_delayed", reasons="A criminal trial is listed for the autumn",
                   because_of=["criminal_investigation"],
                   new_expected_date=(big_l + timedelta(days=240)).isoformat())
        delay = attached((await received(server, "a delay in publishing"))[0])
        assert "A criminal trial is listed for the autumn" in delay
        assert "criminal investigation" in delay
        assert "the Secretary of State" in delay

        await to_publication(send)
        await review_when(handle, lambda r: r.stage is ReviewStage.PUBLICATION)
        full = await received(server, "the full report of a local child")
        text = attached(full[0])
        assert "seven working days before the date of its publication" in text
        assert "A. Reviewer" not in str(full[0]["Subject"])
        body = full[0].get_body(("plain",))
        assert body is not None
        assert "via the Children's MARS team" in body.get_content()
        await handle.terminate("test over")

"""The action plan's e-mail: each review reported to the partners and the Children's MARS
Board (issue 9, "the action plan's review reports to the partners and Board"; patch
"plan-review-report"), and its alerts say "statutory" only for a statutory deadline (none of the
plan's dates is). Time-skipping server, real workflows, the outbox and an SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.directory import OrganisationKind
from domain.permissions import Role
from domain.procedure import Partner
from infra.mailer import SmtpMailer
from store import directory
from store.db import Sessionmaker, make_sessionmaker
from tests import database
from tests.action_plans import plan_when, signal, start_plan
from tests.scenarios import LONDON, at_london, travel_to
from tests.smtp import Recorder
from tests.test_action_plan_workflow import next_monday, stored_case
from tests.test_case_mail import worker_for

CHILD_DETAIL = "PLAN-CHILD-NAME-7Q"


def address(label: str) -> str:
    return f"{label.replace('/', '.').replace(' ', '').lower()}@cspr.test"


@pytest.fixture(scope="module")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sessionmaker]:
    """A directory with one DSP and one SSL per partner, the MARS team and a Board member."""
    engine, schema, url = await database.test_database(Path(tmp_path_factory.mktemp("pmail")))
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
                await directory.add_person(session, org.id, "Board chair", address("board"),
                                           Role.BOARD)
    yield sessions
    await database.drop(engine, schema, url)


def recipients(messages: list[EmailMessage]) -> set[str]:
    return {m["To"].addresses[0].addr_spec for m in messages}


async def until(check: Callable[[], bool], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("never happened")
        await asyncio.sleep(0.05)


DSPS = {address(f"dsp/{p.value}") for p in Partner}


async def test_each_review_is_reported_to_the_partners_and_the_board(
    time_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """"This group will report regularly to the safeguarding partners also the Children's
    MARS Board": a review recorded is e-mailed to the partners' DSPs and the Board (as the
    review names them) and the MARS team, with its numbers and dates, never its free text."""
    recorder, mailer = smtp
    monday = next_monday((await time_env.get_current_time()).astimezone(LONDON).date())
    async with worker_for(time_env.client, store, mailer) as worker:
        await travel_to(time_env, at_london(monday, 10))
        case_id = await stored_case(time_env, worker.task_queue)
        handle = await start_plan(time_env.client, worker.task_queue, case_id)
        await signal(handle, "add_action", recommendation=1, what="Training",
                     owner="Partner health", due_date=monday + timedelta(weeks=40))
        await signal(handle, "add_action", recommendation=2, what="Referrals",
                     owner="Partner police", due_date=monday + timedelta(weeks=40))
        await signal(handle, "complete_action", action_id="A2", evidence="Done")
        await plan_when(handle, lambda p: len(p.actions) == 2
                        and p.next_review.due_date is not None)
        await signal(handle, "plan_review", progress=f"On track; {CHILD_DETAIL}")
        plan = await plan_when(handle, lambda p: len(p.reviews) == 1
                               and p.next_review.due_date is not None)
        await until(lambda: len(recorder.messages) >= 5)
        await asyncio.sleep(0.2)
        reports = [m for m in recorder.messages if "action plan review 1" in m["Subject"]]
        assert recipients(reports) == DSPS | {address("board"), address("mars_team")}
        assert len(reports) == 5
        body = reports[0].get_content()
        assert reports[0]["Subject"] == f"{case_id}: action plan review 1 - report"
        assert "Actions open: 1, of which overdue: 0" in body
        assert "Actions completed: 1; closed with a reason: 0" in body
        next_due = plan.next_review.due_date
        assert next_due is not None
        assert f"Next review due: {next_due.day} {next_due:%B %Y}" in body
        assert "Overseen by: cspr group" in body
        for message in reports:
            assert CHILD_DETAIL not in message["Subject"]
            assert CHILD_DETAIL not in message.get_content()

        # A review reported to the Board only: the Board and the MARS team.
        recorder.messages.clear()
        await signal(handle, "plan_review", progress="Board only", reported_to=["mars_board"])
        await plan_when(handle, lambda p: len(p.reviews) == 2)
        await until(lambda: len(recorder.messages) >= 2)
        await asyncio.sleep(0.2)
        assert recipients(recorder.messages) == {address("board"), address("mars_team")}
        assert all("action plan review 2" in m["Subject"] for m in recorder.messages)
        await handle.terminate("test over")

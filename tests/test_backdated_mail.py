"""Issue 9, "Bugs found": "A back-dated notification sends reminders for later steps (SSL
recommendation) to people who have not yet had the letters; send a step's reminder only to
those who have been asked for it, and say in the first letter what is already overdue."

The mail activities against a real case store and SMTP server (tests/test_mail.py's fixtures).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from activities.case_store import project
from activities.mail import AlertMailInput, SendLettersInput
from domain.case import CaseState, ClockPoint
from domain.decisions import InformPartners
from domain.mail import Letters, long_date
from domain.procedure import CURRENT_PROCEDURE, Clock, Partner, Step
from infra.mailer import SmtpMailer
from store.db import Sessionmaker
from tests.factories import notification
from tests.smtp import Recorder
from tests.test_mail import Directory, _set_dates, addresses, listed, mail, store

__all__ = ["listed", "store"]  # the fixtures, used by name


async def received(store: Sessionmaker, days_ago: int, *, informed: bool = False) -> CaseState:
    """A notification received `days_ago` days ago, stored as the workflow projects it."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    case = CaseState.open_case(f"CSPR-2026-{uuid.uuid4().hex[:6].upper()}", CURRENT_PROCEDURE,
                               notification(at))
    _set_dates(case, Clock.RECEIVED, ClockPoint(at=at))
    if case.steps_on_clock(Clock.LA_AWARE):
        _set_dates(case, Clock.LA_AWARE, ClockPoint(at=case.la_aware_at))
    if informed:
        case.apply(InformPartners(), at + timedelta(hours=1))
    async with store.begin() as session:
        await project(session, case, 1)
    return case


def plain(message: object) -> str:
    body = message.get_body(("plain",))  # type: ignore[attr-defined]
    assert body is not None
    return str(body.get_content())


async def test_a_step_is_chased_only_with_those_asked_for_it(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """The SSLs have not had Doc 3 (inform_partners not done): the SSL recommendation's
    passed deadline goes to the MARS team alone; once they have, to the SSLs and the MARS
    team."""
    recorder, mailer = smtp
    case = await received(store, 20)
    due = case.step(Step.SSL_RECOMMENDATION).due_date
    result = await mail(store, mailer).send_alert_mail(AlertMailInput(
        case_id=case.case_id, sequence=5, kind="overdue", step=Step.SSL_RECOMMENDATION,
        due_date=due))
    assert result.missing == []
    assert addresses(recorder.messages) == sorted(listed.of("mars_team"))

    recorder.messages.clear()
    informed = await received(store, 20, informed=True)
    await mail(store, mailer).send_alert_mail(AlertMailInput(
        case_id=informed.case_id, sequence=5, kind="overdue", step=Step.SSL_RECOMMENDATION,
        due_date=due))
    assert addresses(recorder.messages) == sorted(listed.of(
        "mars_team", *(f"ssl/{p.value}" for p in Partner)))


async def test_the_first_letters_say_what_is_already_overdue(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """Doc 2 and Doc 3's e-mail of a back-dated notification lists the steps whose dates have
    passed; a notification received today lists none."""
    recorder, mailer = smtp
    case = await received(store, 20)
    await mail(store, mailer).send_letters(SendLettersInput(
        case_id=case.case_id, letters=Letters.INFORM_PARTNERS, sequence=1))
    ssl = next(iter(listed.of("ssl/health")))
    text = plain(recorder.to(ssl)[0])
    assert "Already overdue" in text
    ssl_due = case.step(Step.SSL_RECOMMENDATION).due_date
    assert ssl_due is not None
    assert f"- SSL recommendation: due {long_date(ssl_due)} (local)" in text
    assert "- Inform the partners" not in text  # done by these very letters

    recorder.messages.clear()
    fresh = await received(store, 0)
    await mail(store, mailer).send_letters(SendLettersInput(
        case_id=fresh.case_id, letters=Letters.INFORM_PARTNERS, sequence=1))
    assert "Already overdue" not in plain(recorder.to(ssl)[0])

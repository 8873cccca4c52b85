"""Issue 9, "Bugs found trying it as a new user would": "Escalating a difference of opinion by
hand e-mails seven people 'overdue - Difference of opinion … Due: not set' although nothing is
overdue. Raising a difference e-mails nobody; it should tell the level's people."

The real case workflow on the dev server, its e-mail through a real SMTP server, and a case
store whose directory lists the MARS team and each partner's SSL and DSP
(tests/test_case_mail.py's store); and the activity alone, for each level's people.
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage

from temporalio.testing import WorkflowEnvironment

from activities.mail import AlertMailInput
from domain.case import CaseState, EventKind
from domain.decisions import Actor
from domain.differences import Difference, loose
from domain.procedure import Partner
from infra.mailer import SmtpMailer
from store.db import Sessionmaker
from tests.factories import case_when, start_case
from tests.smtp import Recorder
from tests.test_case_mail import address, recipients, store, until, worker_for
from tests.test_mail import a_case, mail

__all__ = ["store"]  # the fixtures, used by name
AGENCY = Actor(subject="rep@agency.test", role="agency", organisation="NHS Trust")
SSL = Actor(subject="ssl@cspr.test", role="ssl", organisation="health")
SSLS_AND_MARS = {address("mars_team"), *(address(f"ssl/{p.value}") for p in Partner)}
PARTNERS_AND_MARS = {address("mars_team"), *(address(f"dsp/{p.value}") for p in Partner)}


def subject(message: EmailMessage) -> str:
    return str(message["Subject"])


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def test_raising_tells_the_level_and_a_hand_escalation_says_escalated(
    dev_env: WorkflowEnvironment, store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """Raised: the SSLs and the MARS team (its first level) are told it was raised. Escalated
    by a person: the partners' level (the DSPs, the MARS team) is told it was escalated;
    neither e-mail says overdue or "not set"."""
    recorder, mailer = smtp
    client = dev_env.client
    async with worker_for(client, store, mailer) as worker:
        handle = await start_case(client, worker.task_queue,
                                  f"CSPR-2026-DM{uuid.uuid4().hex[:6].upper()}",
                                  await dev_env.get_current_time())
        await case_when(handle, lambda c: c.clock_dates != {})
        raised = await handle.execute_update("raise_difference", loose(
            {"subject": "process", "summary": "Agency reports are late"}, AGENCY),
            result_type=Difference)
        await until(lambda: len(recorder.messages) >= len(SSLS_AND_MARS))
        assert recipients(recorder.messages) == SSLS_AND_MARS
        for message in recorder.messages:
            assert subject(message).startswith(f"{handle.id}: raised - Difference of opinion "
                                               f"{raised.id} at the ssl and mars level")
            assert "overdue" not in body(message).lower()
            assert "not set" not in body(message)

        recorder.messages.clear()
        await handle.execute_update("escalate_difference", loose(
            {"difference_id": raised.id, "reason": "The SSLs could not agree"}, SSL),
            result_type=Difference)
        await until(lambda: len(recorder.messages) >= len(PARTNERS_AND_MARS))
        assert recipients(recorder.messages) == PARTNERS_AND_MARS
        for message in recorder.messages:
            assert subject(message) == (f"{handle.id}: escalated - Difference of opinion "
                                        f"{raised.id} at the safeguarding partners level")
            text = body(message)
            assert "escalated to your level" in text
            assert "Nothing is overdue" in text
            assert "not set" not in text
            assert "The SSLs could not agree" not in text  # the reason stays on the case
        case = await handle.query("case", result_type=CaseState)
        assert not [e for e in case.events if e.kind is EventKind.MAIL_FAILED]
        await handle.terminate("test over")


async def test_the_levels_people(
    store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer],
) -> None:
    """Each level's people: the SSLs and the MARS team; the partners (DSPs) and the MARS team;
    at independent scrutiny the MARS team (who ask the Independent Scrutiny Officer) and the
    DSPs."""
    recorder, mailer = smtp
    case = await a_case(store)
    for n, (level, people) in enumerate((("ssl_and_mars", SSLS_AND_MARS),
                                         ("safeguarding_partners", PARTNERS_AND_MARS),
                                         ("independent_scrutiny", PARTNERS_AND_MARS))):
        recorder.messages.clear()
        result = await mail(store, mailer).send_alert_mail(AlertMailInput(
            case_id=case.case_id, sequence=100 + n, kind="escalated",
            step="difference_of_opinion", difference_id="DOO-4", level=level))
        assert result.missing == []
        assert recipients(recorder.messages) == people

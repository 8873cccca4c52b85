"""E-mail from a case through a real SMTP server in the test process and the real PostgreSQL
case store: letters sent once per recipient with their .docx attached, retries and replays that
send nothing twice, a crash mid-send left uncertain, failures counted, missing people named."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.calendar import DueDatesInput, due_dates
from activities.case_store import project
from activities.mail import (
    AlertMailInput,
    MailActivities,
    MailConfig,
    SendLettersInput,
)
from domain.calendar import WorkingDayCalendar
from domain.case import CaseState, ClockPoint, Completion
from domain.decisions import (
    AgencyRequests,
    DspDecision,
    InformPartners,
    RapidReviewMeeting,
    RapidReviewOutcome,
    SslRecommendation,
    StepRecord,
)
from domain.directory import OrganisationKind
from domain.mail import Letters
from domain.permissions import Role
from domain.procedure import CURRENT_PROCEDURE, CURRENT_REQUEST_PROCEDURE, Clock, Partner, Step
from infra.mailer import HandOver, MailUncertain, SmtpMailer
from store import directory, documents
from store.db import Sessionmaker, make_sessionmaker
from store.models import CaseDocument, OutboxMessage
from tests import database
from tests.factories import CHILD_REFERENCE, notification, review_request
from tests.mail_probe import MailProbe
from tests.smtp import Recorder
from tests.test_letters import text_of
from worker import build_worker

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TRUST = "Northern Lincolnshire and Goole NHS Trust"
SCHOOL = "Ravenswood Primary School"
CHILD_DATA = (CHILD_REFERENCE, "2019-03-04", "4 March 2019", "unexplained injuries")


@dataclass(frozen=True)
class Directory:
    """Who is listed, by label: "dsp/health" -> their addresses."""

    people: dict[str, list[str]]

    def of(self, *labels: str) -> set[str]:
        return {address for label in labels for address in self.people[label]}


@pytest.fixture(scope="module")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sessionmaker]:
    """A case store of this module's own: its directory lists exactly these people."""
    engine, schema, url = await database.test_database(Path(tmp_path_factory.mktemp("mail")))
    yield make_sessionmaker(engine)
    await database.drop(engine, schema, url)


@pytest.fixture(scope="module")
async def listed(store: Sessionmaker) -> Directory:
    people: dict[str, list[str]] = {}

    async def add(organisation: int, role: Role, label: str, n: int = 1) -> None:
        for i in range(n):
            address = f"{label.replace('/', '.').replace(' ', '')}.{i}@cspr.test".lower()
            await directory.add_person(session, organisation, f"{label} {i}", address, role)
            people.setdefault(label, []).append(address)

    async with store.begin() as session:
        for partner, name in ((Partner.LOCAL_AUTHORITY, "North Lincolnshire Council"),
                              (Partner.HEALTH, "NHS Humber and North Yorkshire ICB"),
                              (Partner.POLICE, "Humberside Police")):
            org = await directory.add_organisation(session, name, OrganisationKind.PARTNER,
                                                   partner)
            await add(org.id, Role.DSP, f"dsp/{partner.value}")
            await add(org.id, Role.SSL, f"ssl/{partner.value}")
            if partner is Partner.LOCAL_AUTHORITY:
                await add(org.id, Role.MARS_TEAM, "mars_team", 2)
        trust = await directory.add_organisation(session, TRUST, OrganisationKind.AGENCY)
        await add(trust.id, Role.AGENCY, f"agency/{TRUST}", 2)
        school = await directory.add_organisation(session, SCHOOL, OrganisationKind.AGENCY)
        await add(school.id, Role.AGENCY, f"agency/{SCHOOL}")
        # Deactivated: receives nothing.
        gone = await directory.add_person(session, school.id, "Gone", "gone@cspr.test",
                                          Role.AGENCY)
        gone.active = False
    return Directory(people)


RECEIVED = datetime(2026, 11, 27, 10, tzinfo=UTC)
# To the rapid review: the partners informed, the SSLs' and all three DSPs' yes (clock D).
TO_RAPID_REVIEW: list[StepRecord] = [
    InformPartners(), SslRecommendation(criteria_met=True, recommend_panel_notification=True,
                                        rationale="Met"),
    *(DspDecision(partner=p, criteria_met=True, rationale="Met") for p in Partner)]
TO_MEETING: list[StepRecord] = [
    *TO_RAPID_REVIEW, AgencyRequests(agencies=[TRUST]),
    RapidReviewMeeting(recommendations=["Joint training"], outcome=RapidReviewOutcome.LOCAL_REVIEW,
                       rationale="Learning for two agencies")]


def _set_dates(case: CaseState, clock: Clock, start: ClockPoint) -> None:
    computed = due_dates(WorkingDayCalendar(), DueDatesInput(
        procedure_version=case.procedure_version, clock=clock, start=start,
        steps=case.steps_on_clock(clock)))
    case.set_due_dates(clock, computed.clock_date, computed.due)


async def a_case(store: Sessionmaker, *records: StepRecord) -> CaseState:
    """A notification in the case store with these records and their clocks' due dates, as
    the workflow projects it."""
    case = CaseState.open_case(f"CSPR-2026-{uuid.uuid4().hex[:6].upper()}", CURRENT_PROCEDURE,
                               notification(RECEIVED))
    _set_dates(case, Clock.RECEIVED, ClockPoint(at=RECEIVED))
    if case.steps_on_clock(Clock.LA_AWARE):  # from procedure r4, started with R
        _set_dates(case, Clock.LA_AWARE, ClockPoint(at=case.la_aware_at))
    for r in records:
        for clock, start in case.apply(r, RECEIVED + timedelta(hours=1)):
            _set_dates(case, clock, start)
    async with store.begin() as session:
        await project(session, case, 1)
    return case


async def kinds_by_filename(store: Sessionmaker, case_id: str) -> dict[str, str]:
    async with store() as session:
        return {d.filename: d.kind for d in await documents.list_documents(session, case_id)}


def mail(store: Sessionmaker, mailer: SmtpMailer | object, attempts: int = 3) -> MailActivities:
    return MailActivities(store, mailer, MailConfig(attempts=attempts))  # type: ignore[arg-type]


async def outbox(store: Sessionmaker, case_id: str) -> list[OutboxMessage]:
    async with store() as session:
        return list(await session.scalars(select(OutboxMessage).where(
            OutboxMessage.case_id == case_id).order_by(OutboxMessage.id)))


def addresses(messages: list[EmailMessage]) -> list[str]:
    return sorted(m["To"].addresses[0].addr_spec for m in messages)


def subject(message: EmailMessage) -> str:
    """The subject as a mail client shows it (a long one is folded onto the next line)."""
    return " ".join(str(message["Subject"]).split())


def attachments(message: EmailMessage, kinds: dict[str, str]) -> list[str]:
    """The kinds of document attached, each checked to be a .docx kept with the case."""
    found = []
    for attached in message.iter_attachments():
        assert attached.get_content_type() == DOCX
        assert attached.get_content()[:2] == b"PK"  # a .docx is a zip
        found.append(kinds[str(attached.get_filename())])
    return sorted(found)


def assert_no_child_data(message: EmailMessage) -> None:
    body = message.get_body(("plain",))
    assert body is not None
    for text in (str(message["Subject"]), body.get_content()):
        for item in CHILD_DATA:
            assert item.casefold() not in text.casefold(), (item, text)


async def test_letters_go_once_to_each_person_with_the_docx_attached(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store)
    send = SendLettersInput(case_id=case.case_id, letters=Letters.INFORM_PARTNERS, sequence=3)
    result = await mail(store, mailer).send_letters(send)

    partners = [p.value for p in Partner]
    dsps = listed.of(*(f"dsp/{p}" for p in partners))
    ssls = listed.of(*(f"ssl/{p}" for p in partners))
    assert addresses(recorder.messages) == sorted(dsps | ssls)
    assert (result.documents, result.messages, result.sent) == (7, 6, 6)  # Doc 2/3 x3, Doc 4
    assert (result.uncertain, result.failed, result.missing) == (0, 0, [])
    kinds = await kinds_by_filename(store, case.case_id)
    for message in recorder.messages:
        to = message["To"].addresses[0].addr_spec
        assert attachments(message, kinds) == ["doc2" if to in dsps else "doc3", "doc4"]
        assert subject(message) == (f"{case.case_id}: notification of a serious child "
                                      "safeguarding incident")
        assert message["From"].addresses[0].addr_spec == "mars@northlincs.gov.uk"
        assert_no_child_data(message)
    body = recorder.to(next(iter(ssls)))[0].get_body(("plain",))
    assert body is not None
    assert "SSL recommendation" in body.get_content()
    assert "2 December 2026" in body.get_content()  # R+3 working days

    # A retry or a replay of the activity: nothing is composed or sent again.
    again = await mail(store, mailer).send_letters(send)
    assert len(recorder.messages) == 6
    assert again == result
    async with store() as session:
        kept = (await session.scalars(select(CaseDocument.key).where(
            CaseDocument.case_id == case.case_id))).all()
    assert sorted(kept) == sorted(
        [f"inform_partners/3/doc2/{p}" for p in partners]
        + [f"inform_partners/3/doc3/{p}" for p in partners] + ["inform_partners/3/doc4"])
    assert {m.status for m in await outbox(store, case.case_id)} == {"sent"}


@pytest.mark.usefixtures("listed")
async def test_doc4_names_the_partners_as_the_directory_does(
    store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    """Issue 9's bugs: "Doc 4 names the health partner with a fixed text instead of the
    directory's name". The directory lists the health partner as its ICB: Doc 4 says so."""
    _, mailer = smtp
    case = await a_case(store)
    await mail(store, mailer).send_letters(SendLettersInput(
        case_id=case.case_id, letters=Letters.INFORM_PARTNERS, sequence=1))
    async with store() as session:
        [doc4] = [d for d in await documents.list_documents(session, case.case_id)
                  if d.kind == "doc4"]
        kept = await documents.get_document(session, case.case_id, doc4.id)
    assert kept is not None
    text = text_of(kept.content)
    for name in ("North Lincolnshire Council", "NHS Humber and North Yorkshire ICB",
                 "Humberside Police"):
        assert f"\n{name}\n" in text, name
    assert "North Lincolnshire Health and Care Partnership" not in text


async def test_a_new_sequence_is_a_new_sending(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store)
    for sequence in (1, 1, 2):
        await mail(store, mailer).send_letters(SendLettersInput(
            case_id=case.case_id, letters=Letters.SSL_RECOMMENDATION, sequence=sequence))
    dsps = listed.of(*(f"dsp/{p.value}" for p in Partner))
    assert addresses(recorder.messages) == sorted([*dsps, *dsps])


async def test_agencies_get_the_request_and_template_and_missing_ones_are_named(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store, *TO_RAPID_REVIEW)
    result = await mail(store, mailer).send_letters(SendLettersInput(
        case_id=case.case_id, letters=Letters.AGENCY_REQUESTS, sequence=9,
        agencies=[TRUST.upper(), SCHOOL, "Unlisted Youth Club"]))
    assert result.missing == ["agency/Unlisted Youth Club"]
    assert addresses(recorder.messages) == sorted(listed.of(f"agency/{TRUST}",
                                                            f"agency/{SCHOOL}"))
    assert "gone@cspr.test" not in addresses(recorder.messages)
    kinds = await kinds_by_filename(store, case.case_id)
    for message in recorder.messages:
        assert attachments(message, kinds) == ["agency_report_template",
                                               "rapid_review_request"]
        assert_no_child_data(message)
    # A request and a template made out to each agency: kept for the one with nobody listed
    # too, for the MARS team to send by other means.
    assert result.documents == 6


class CrashAfterFirstSend:
    """Hands the first message to the server, then "crashes" before the outbox hears of it."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer

    async def send(self, message: EmailMessage, hand_over: HandOver | None = None) -> None:
        await self.mailer.send(message, hand_over)
        raise RuntimeError("worker killed mid-send")


async def test_a_message_interrupted_mid_send_is_uncertain_and_never_sent_again(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store, *TO_MEETING)
    send = SendLettersInput(case_id=case.case_id, letters=Letters.RAPID_REVIEW_SUBMISSION,
                            sequence=1)
    with pytest.raises(RuntimeError):
        await mail(store, CrashAfterFirstSend(mailer)).send_letters(send)
    [first] = recorder.messages
    [interrupted] = [m for m in await outbox(store, case.case_id) if m.status == "sending"]

    result = await mail(store, mailer).send_letters(send)
    expected = listed.of("mars_team", *(f"dsp/{p.value}" for p in Partner))
    assert addresses(recorder.messages) == sorted(expected)  # the first one once only
    assert recorder.messages.count(first) == 1
    assert (result.sent, result.uncertain) == (len(expected) - 1, 1)
    rows = {m.id: m for m in await outbox(store, case.case_id)}
    assert rows[interrupted.id].status == "uncertain"
    assert rows[interrupted.id].sent_at is None
    await mail(store, mailer).send_letters(send)
    assert len(recorder.messages) == len(expected)


async def test_a_temporary_failure_raises_and_the_next_call_sends(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store)
    send = AlertMailInput(case_id=case.case_id, sequence=5, kind="reminder",
                          step=Step.INFORM_PARTNERS, due_date=datetime(2026, 11, 30).date())
    recorder.refuse = ["451 4.3.0 Try again later"]
    with pytest.raises(ApplicationError) as raised:
        await mail(store, mailer).send_alert_mail(send)
    assert not raised.value.non_retryable
    assert raised.value.type == "MailUnavailable"
    assert "451 4.3.0 Try again later" in raised.value.message
    rows = await outbox(store, case.case_id)
    assert sorted((m.status, m.attempts, m.last_error) for m in rows) == [
        ("pending", 1, "451 4.3.0 Try again later"), ("sent", 1, None)]

    result = await mail(store, mailer).send_alert_mail(send)
    assert (result.messages, result.sent, result.failed) == (2, 2, 0)
    assert addresses(recorder.messages) == sorted(listed.of("mars_team"))
    rows = await outbox(store, case.case_id)
    assert sorted((m.status, m.attempts) for m in rows) == [("sent", 1), ("sent", 2)]
    assert all(m.sent_at is not None and m.last_error is None for m in rows)


@pytest.mark.usefixtures("listed")
async def test_a_permanent_refusal_or_the_last_attempt_marks_it_failed(
    store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store)
    refused = AlertMailInput(case_id=case.case_id, sequence=6, kind="reminder",
                             step=Step.PANEL_NOTIFICATION)
    recorder.refuse = ["550 5.1.1 Mailbox unavailable"]
    result = await mail(store, mailer).send_alert_mail(refused)
    assert (result.messages, result.sent, result.failed) == (3, 2, 1)
    [failed] = [m for m in await outbox(store, case.case_id) if m.status == "failed"]
    assert (failed.attempts, failed.last_error) == (1, "550 5.1.1 Mailbox unavailable")

    retried = AlertMailInput(case_id=case.case_id, sequence=7, kind="reminder",
                             step=Step.INFORM_PARTNERS)
    sent_before = len(recorder.messages)
    for attempt in range(1, 4):
        recorder.refuse = ["421 4.7.0 Too busy"] * 2
        if attempt < 3:
            with pytest.raises(ApplicationError):
                await mail(store, mailer, attempts=3).send_alert_mail(retried)
        else:  # the last attempt allowed: failed, shown on the case, no more retries
            result = await mail(store, mailer, attempts=3).send_alert_mail(retried)
            assert (result.sent, result.failed) == (0, 2)
    assert len(recorder.messages) == sent_before
    rows = [m for m in await outbox(store, case.case_id) if m.key.startswith(
        f"{case.case_id}/case/7/")]
    assert {(m.status, m.attempts, m.last_error) for m in rows} == {
        ("failed", 3, "421 4.7.0 Too busy")}
    recorder.refuse = []
    await mail(store, mailer, attempts=3).send_alert_mail(retried)
    assert len(recorder.messages) == sent_before


async def test_reminders_go_to_those_yet_to_record_and_escalations_wider(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    # The DSPs have been asked (Doc 4 Part A, with the SSLs' recommendation).
    case = await a_case(store, *TO_RAPID_REVIEW[:2],
                        DspDecision(partner=Partner.HEALTH, criteria_met=True,
                                    rationale="Agreed"))
    due = case.step(Step.DSP_DECISION).due_date
    reminder = await mail(store, mailer).send_alert_mail(AlertMailInput(
        case_id=case.case_id, sequence=10, kind="reminder", step=Step.DSP_DECISION,
        due_date=due, statutory=False))
    assert addresses(recorder.messages) == sorted(listed.of("dsp/local_authority",
                                                            "dsp/police"))
    assert reminder.missing == []
    assert {subject(m) for m in recorder.messages} == {
        f"{case.case_id}: reminder - DSP decision due 3 December 2026"}

    recorder.messages.clear()
    await mail(store, mailer).send_alert_mail(AlertMailInput(
        case_id=case.case_id, sequence=11, kind="overdue", step=Step.DSP_DECISION,
        due_date=due, statutory=False))
    assert addresses(recorder.messages) == sorted(listed.of(
        "dsp/local_authority", "dsp/police", "mars_team",
        *(f"ssl/{p.value}" for p in Partner)))
    for message in recorder.messages:
        assert subject(message) == (f"{case.case_id}: overdue - DSP decision was due "
                                      "3 December 2026")
        assert_no_child_data(message)
        body = message.get_body(("plain",))
        assert body is not None
        assert "(local)" in body.get_content()
        assert "Doc 4 Part B" in body.get_content()


async def test_an_lcspr_step_reminds_the_mars_team_and_nobody_listed_is_named(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store)
    result = await mail(store, mailer).send_alert_mail(AlertMailInput(
        case_id=case.case_id, part="local_review", sequence=2, kind="reminder",
        step="report_sent", due_date=datetime(2027, 5, 3).date(), statutory=True))
    assert addresses(recorder.messages) == sorted(listed.of("mars_team"))
    assert subject(recorder.messages[0]) == (f"{case.case_id}: reminder - Report sent due "
                                               "3 May 2027")
    assert result.missing == []
    # The outbox keeps each message under its part: the case's own sequence 2 is another.
    assert all(m.key.startswith(f"{case.case_id}/local_review/2/person-")
               for m in await outbox(store, case.case_id))

    async with store.begin() as session:
        await session.execute(update(OutboxMessage).where(OutboxMessage.case_id == case.case_id)
                              .values(status="sent"))
    # Agencies asked for reports, one of them with nobody listed: named, not silently skipped.
    case.step(Step.AGENCY_REPORTS).expected_parties = ["Unlisted Youth Club", SCHOOL]
    case.step(Step.AGENCY_REQUESTS).completion = Completion(completed_at=RECEIVED)  # asked
    async with store.begin() as session:
        await project(session, case, 2)
    result = await mail(store, mailer).send_alert_mail(AlertMailInput(
        case_id=case.case_id, sequence=3, kind="reminder", step=Step.AGENCY_REPORTS))
    assert result.missing == ["agency/Unlisted Youth Club"]
    assert result.sent == 1


async def test_the_same_alert_twice_at_once_sends_each_message_once(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store, InformPartners())  # the SSLs have had Doc 3
    send = AlertMailInput(case_id=case.case_id, sequence=4, kind="overdue",
                          step=Step.SSL_RECOMMENDATION)
    await asyncio.gather(*(mail(store, mailer).send_alert_mail(send) for _ in range(3)))
    expected = listed.of("mars_team", *(f"ssl/{p.value}" for p in Partner))
    assert addresses(recorder.messages) == sorted(expected)
    assert {m.status for m in await outbox(store, case.case_id)} == {"sent"}


async def test_a_letter_the_case_cannot_fill_yet_is_not_retried(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store)  # no rapid review meeting: Doc 12 cannot be written
    with pytest.raises(ApplicationError) as raised:
        await mail(store, mailer).send_letters(SendLettersInput(
            case_id=case.case_id, letters=Letters.RAPID_REVIEW_SUBMISSION, sequence=1))
    assert raised.value.type == "ComposeError"
    assert raised.value.non_retryable
    assert recorder.messages == []
    assert await outbox(store, case.case_id) == []
    assert await kinds_by_filename(store, case.case_id) == {}
    assert listed.people  # the directory lists people: nothing was sent all the same


async def test_a_case_not_stored_yet_is_retried(
    store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    with pytest.raises(ApplicationError) as raised:
        await mail(store, smtp[1]).send_letters(SendLettersInput(
            case_id="CSPR-2026-NOPE", letters=Letters.DSP_DECISION, sequence=1))
    assert raised.value.type == "CaseNotStored"
    assert not raised.value.non_retryable


async def test_the_same_letters_three_times_at_once_are_kept_and_sent_once(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store, *TO_RAPID_REVIEW)
    send = SendLettersInput(case_id=case.case_id, letters=Letters.DSP_DECISION, sequence=8)
    results = await asyncio.gather(*(mail(store, mailer).send_letters(send) for _ in range(3)))
    expected = listed.of("mars_team", *(f"{r}/{p.value}" for r in ("ssl", "dsp")
                                         for p in Partner))
    assert addresses(recorder.messages) == sorted(expected)
    assert {r.documents for r in results} == {1}
    assert len(await kinds_by_filename(store, case.case_id)) == 1
    assert {m.status for m in await outbox(store, case.case_id)} == {"sent"}


async def test_a_retry_delivers_what_the_first_attempt_decided(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    """Someone deactivated between two attempts still gets the message written for them (it
    would otherwise wait as pending for ever); someone added since gets one too."""
    recorder, mailer = smtp
    agency = f"Short-lived Agency {uuid.uuid4().hex[:6]}"
    async with store.begin() as session:
        org = await directory.add_organisation(session, agency, OrganisationKind.AGENCY)
        leaver = await directory.add_person(session, org.id, "Leaver",
                                            f"leaver.{uuid.uuid4().hex[:6]}@cspr.test",
                                            Role.AGENCY)
    case = await a_case(store, *TO_RAPID_REVIEW, AgencyRequests(agencies=[agency]))
    send = AlertMailInput(case_id=case.case_id, sequence=12, kind="reminder",
                          step=Step.AGENCY_REPORTS)
    recorder.refuse = ["451 4.3.0 Try again later"]
    with pytest.raises(ApplicationError):
        await mail(store, mailer).send_alert_mail(send)
    async with store.begin() as session:
        await directory.deactivate_person(session, leaver.id)
        joiner = await directory.add_person(session, org.id, "Joiner",
                                            f"joiner.{uuid.uuid4().hex[:6]}@cspr.test",
                                            Role.AGENCY)
    result = await mail(store, mailer).send_alert_mail(send)
    assert (result.messages, result.sent) == (2, 2)
    assert addresses(recorder.messages) == sorted([leaver.email, joiner.email])
    assert listed.people


async def test_through_temporal_a_temporary_failure_is_retried_by_the_policy(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer],
    time_env: WorkflowEnvironment,
) -> None:
    """The activity by name on a worker (pydantic converter, encryption), as a workflow calls
    it: a 451 fails the first attempt, RETRY_POLICY's next one sends the rest, once each."""
    recorder, mailer = smtp
    case = await a_case(store, *TO_MEETING)
    recorder.refuse = ["451 4.3.0 Try again later"]
    async with build_worker(time_env.client, f"tq-{uuid.uuid4()}", WorkingDayCalendar(), store,
                            [MailProbe], mailer=mailer, mail=MailConfig(attempts=3)) as worker:
        result = await time_env.client.execute_workflow(
            MailProbe.run, SendLettersInput(case_id=case.case_id,
                                            letters=Letters.RAPID_REVIEW_SUBMISSION, sequence=1),
            id=f"mail-probe-{uuid.uuid4()}", task_queue=worker.task_queue)
    expected = listed.of("mars_team", *(f"dsp/{p.value}" for p in Partner))
    assert (result.messages, result.sent, result.failed) == (len(expected), len(expected), 0)
    assert addresses(recorder.messages) == sorted(expected)
    assert sorted(m.attempts for m in await outbox(store, case.case_id)) == [
        *([1] * (len(expected) - 1)), 2]


async def test_a_request_informs_the_partners_of_the_request(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    """Flowchart 4: the MARS team informs the partners that a request has been made."""
    recorder, mailer = smtp
    case = CaseState.open_request(f"CSPR-2026-{uuid.uuid4().hex[:6].upper()}",
                                  CURRENT_REQUEST_PROCEDURE, review_request(RECEIVED))
    _set_dates(case, Clock.RECEIVED, ClockPoint(at=RECEIVED))
    async with store.begin() as session:
        await project(session, case, 1)
    result = await mail(store, mailer).send_letters(SendLettersInput(
        case_id=case.case_id, letters=Letters.INFORM_PARTNERS, sequence=1))
    assert result.sent == len(listed.of(*(f"{r}/{p.value}" for r in ("dsp", "ssl")
                                          for p in Partner)))
    for message in recorder.messages:
        assert subject(message) == (f"{case.case_id}: request for a child safeguarding "
                                    "practice review")
        assert_no_child_data(message)


class _CutOff:
    """A mailer whose connection drops once the message is on its way, then works."""

    def __init__(self, then: SmtpMailer) -> None:
        self.then = then
        self.cut = False

    async def send(self, message: EmailMessage, hand_over: HandOver | None = None) -> None:
        if not self.cut:
            self.cut = True
            assert hand_over is not None
            assert await hand_over()  # DATA had begun
            raise MailUncertain(None, "connection lost while the message was being handed "
                                      "over: SMTPServerDisconnected")
        await self.then.send(message, hand_over)


@pytest.mark.usefixtures("listed")
async def test_a_message_cut_off_while_handed_over_is_uncertain_and_never_sent_again(
    store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store)
    send = AlertMailInput(case_id=case.case_id, sequence=6, kind="reminder",
                          step=Step.INFORM_PARTNERS, due_date=datetime(2026, 11, 30).date())
    cut_off = _CutOff(mailer)
    result = await mail(store, cut_off).send_alert_mail(send)
    assert (result.messages, result.sent, result.uncertain) == (2, 1, 1)
    again = await mail(store, mailer).send_alert_mail(send)
    assert (again.sent, again.uncertain) == (1, 1)
    assert len(recorder.messages) == 1  # the one cut off is not sent again
    rows = await outbox(store, case.case_id)
    assert sorted(m.status for m in rows if m.key.startswith(f"{case.case_id}/case/6/")) == [
        "sent", "uncertain"]


async def test_asked_again_the_refused_get_their_letters_afresh(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    """A refused address, then the MARS team asks again (`retry_failed`): the refused message
    gets a fresh set of attempts; those who had theirs get nothing twice."""
    recorder, mailer = smtp
    case = await a_case(store, *TO_RAPID_REVIEW)
    send = SendLettersInput(case_id=case.case_id, letters=Letters.AGENCY_REQUESTS, sequence=0,
                            agencies=[TRUST])
    recorder.refuse = ["550 5.1.1 No such user"]
    first = await mail(store, mailer).send_letters(send)
    assert (first.messages, first.sent, first.failed) == (2, 1, 1)
    assert len(recorder.messages) == 1
    same = await mail(store, mailer).send_letters(send)  # a retry or a replay: no fresh try
    assert (same.sent, same.failed) == (1, 1)
    again = await mail(store, mailer).send_letters(send.model_copy(update={"retry_failed": True}))
    assert (again.sent, again.failed) == (2, 0)
    assert addresses(recorder.messages) == sorted(listed.of(f"agency/{TRUST}"))


async def test_an_actions_reminder_goes_to_its_owner_and_the_mars_team(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    """An action plan's action: its owner organisation's people (an agency's, here) and the
    MARS team; an owner the directory does not list is named as missing."""
    recorder, mailer = smtp
    case = await a_case(store)
    result = await mail(store, mailer).send_alert_mail(AlertMailInput(
        case_id=case.case_id, part="action_plan", sequence=3, kind="reminder",
        step="action A1", due_date=datetime(2027, 3, 31).date(), owner=TRUST.lower()))
    assert (result.sent, result.missing) == (4, [])
    assert addresses(recorder.messages) == sorted(listed.of(f"agency/{TRUST}", "mars_team"))
    assert all("Action A1 due 31 March 2027" in subject(m) for m in recorder.messages)
    unknown = await mail(store, mailer).send_alert_mail(AlertMailInput(
        case_id=case.case_id, part="action_plan", sequence=4, kind="reminder",
        step="action A2", owner="Unlisted Charity"))
    assert unknown.missing == ["owner/Unlisted Charity"]


async def test_the_plans_alerts_say_local_target_never_statutory(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]  # noqa: ARG001
) -> None:
    """"Every alert (case, LCSPR, action plan, difference) says 'statutory' only for a deadline
    that is statutory": an action's or a review's date is the plan's own target, and says so."""
    recorder, mailer = smtp
    case = await a_case(store)
    for sequence, (kind, step) in enumerate([("reminder", "action A1"), ("overdue", "action A1"),
                                             ("reminder", "plan_review"),
                                             ("overdue", "plan_review")], start=10):
        await mail(store, mailer).send_alert_mail(AlertMailInput(
            case_id=case.case_id, part="action_plan", sequence=sequence, kind=kind, step=step,
            due_date=datetime(2027, 3, 31).date()))
    assert len({m["Subject"] for m in recorder.messages}) == 4
    for message in recorder.messages:
        text = message["Subject"] + message.get_content()
        assert "statutory" not in text.lower()
        assert "local target" in text
        assert "Due: 31 March 2027 (local)" in text


class CrashWhileConnecting:
    """Dies after the outbox took the message, before the message itself went (DATA)."""

    async def send(self, message: EmailMessage,  # noqa: ARG002 - the Mailer protocol's
                   hand_over: HandOver | None = None) -> None:  # noqa: ARG002
        raise RuntimeError("worker killed while connecting")


async def test_a_message_interrupted_before_it_went_is_sent_not_uncertain(
    store: Sessionmaker, listed: Directory, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    """The uncertain window is DATA alone: a crash while connecting, in TLS, the login or the
    envelope leaves the message `connecting`, and the next delivery sends it, once."""
    recorder, mailer = smtp
    case = await a_case(store, *TO_MEETING)
    send = SendLettersInput(case_id=case.case_id, letters=Letters.RAPID_REVIEW_SUBMISSION,
                            sequence=2)
    with pytest.raises(RuntimeError):
        await mail(store, CrashWhileConnecting()).send_letters(send)
    assert [m.status for m in await outbox(store, case.case_id)
            if m.key.startswith(f"{case.case_id}/{Letters.RAPID_REVIEW_SUBMISSION.value}/2/")
            ].count("connecting") == 1

    result = await mail(store, mailer).send_letters(send)
    expected = listed.of("mars_team", *(f"dsp/{p.value}" for p in Partner))
    assert (result.sent, result.uncertain) == (len(expected), 0)
    assert addresses(recorder.messages) == sorted(expected)  # each once


@pytest.mark.usefixtures("listed")
async def test_a_difference_alert_e_mail_names_its_difference(
    store: Sessionmaker, smtp: tuple[Recorder, SmtpMailer]
) -> None:
    recorder, mailer = smtp
    case = await a_case(store)
    send = AlertMailInput(case_id=case.case_id, sequence=11, kind="overdue",
                          step="difference_of_opinion", difference_id="DOO-3",
                          level="independent_scrutiny", due_date=datetime(2026, 12, 9).date())
    result = await mail(store, mailer).send_alert_mail(send)
    assert result.sent > 0
    for message in recorder.messages:
        assert "Difference of opinion DOO-3 at the independent scrutiny level" in str(
            message["Subject"])
        text = message.get_body(("plain",))
        assert text is not None
        assert "Difference of opinion: DOO-3" in text.get_content()

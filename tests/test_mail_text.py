"""Who is told, and what the messages say (pure): no child's data in any subject or body."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.case import CaseState
from domain.decisions import DspDecision, InformPartners
from domain.local_review_records import LocalReviewStep
from domain.mail import (
    MARS_TEAM,
    Audience,
    DeadlineNote,
    Letters,
    alert_audiences,
    alert_text,
    letters_plan,
    letters_text,
    responsible,
)
from domain.permissions import Role
from domain.procedure import CURRENT_PROCEDURE, Partner, Step
from tests.factories import CHILD_REFERENCE, notification

RECEIVED = datetime(2026, 11, 27, 10, tzinfo=UTC)
CHILD_DATA = (CHILD_REFERENCE, "2019-03-04", "4 March 2019", "2019", "unexplained injuries",
              "Humberside Police")  # the notifying agency, too, may point to the child
SSLS = [Audience(Role.SSL, p.value) for p in Partner]


def a_case() -> CaseState:
    return CaseState.open_case("CSPR-2026-0001", CURRENT_PROCEDURE, notification(RECEIVED))


def test_who_is_responsible_for_each_step() -> None:
    case = a_case()
    dsps = [Audience(Role.DSP, p.value) for p in Partner]
    assert responsible(case, Step.INFORM_PARTNERS) == [MARS_TEAM]
    assert responsible(case, Step.SSL_RECOMMENDATION) == SSLS
    assert responsible(case, Step.DSP_DECISION) == dsps
    case.apply(DspDecision(partner=Partner.POLICE, criteria_met=True, rationale="x"),
               RECEIVED + timedelta(hours=1))
    assert responsible(case, Step.DSP_DECISION) == dsps[:2]
    assert responsible(case, Step.RAPID_REVIEW_SIGNOFF) == dsps
    assert responsible(case, Step.PANEL_NOTIFICATION) == [
        Audience(Role.DSP, "local_authority"), MARS_TEAM]
    case.step(Step.AGENCY_REPORTS).expected_parties = ["A School", "A Trust"]
    assert responsible(case, Step.AGENCY_REPORTS) == [
        Audience(Role.AGENCY, "A School"), Audience(Role.AGENCY, "A Trust")]
    for step in (Step.AGENCY_REQUESTS, Step.RAPID_REVIEW_MEETING, Step.RAPID_REVIEW_REPORT,
                 Step.WELLBEING_SESSIONS, Step.RAPID_REVIEW_SUBMISSION, Step.PANEL_RESPONSE):
        assert responsible(case, step) == [MARS_TEAM], step
    assert responsible(None, LocalReviewStep.REPORT_SENT) == [MARS_TEAM]


def test_an_escalation_adds_the_mars_team_and_the_ssls_once() -> None:
    case = a_case()
    # Not asked yet (no Doc 3 before inform_partners): the MARS team alone (issue 9).
    assert alert_audiences(case, Step.SSL_RECOMMENDATION, overdue=True) == [MARS_TEAM]
    case.apply(InformPartners(), RECEIVED)
    assert alert_audiences(case, Step.SSL_RECOMMENDATION, overdue=False) == SSLS
    assert alert_audiences(case, Step.SSL_RECOMMENDATION, overdue=True) == [*SSLS, MARS_TEAM]
    assert alert_audiences(None, "publication", overdue=True) == [MARS_TEAM, *SSLS]
    assert Audience(Role.DSP, "health").label == "dsp/health"
    assert MARS_TEAM.label == "mars_team"


@pytest.mark.parametrize("overdue", [False, True])
@pytest.mark.parametrize("statutory", [False, True])
def test_no_child_data_in_any_reminder_or_escalation(overdue: bool, statutory: bool) -> None:
    case = a_case()
    steps = [s.value for s in Step] + [s.value for s in LocalReviewStep] + ["add_action"]
    for step in steps:
        for known in (case, None):
            text = alert_text(case.case_id, known, step, overdue, date(2026, 12, 3), statutory)
            for item in CHILD_DATA:
                assert item.casefold() not in (text.subject + text.body).casefold(), (step, item)
            assert text.subject.startswith("CSPR-2026-0001: ")
            assert "\n" not in text.subject


def test_subjects_read_as_the_issue_asks() -> None:
    case = a_case()
    reminder = alert_text(case.case_id, case, Step.SSL_RECOMMENDATION, False, date(2026, 12, 3),
                          False)
    assert reminder.subject == "CSPR-2026-0001: reminder - SSL recommendation due 3 December 2026"
    assert "Due: 3 December 2026 (local)" in reminder.body
    assert "Doc 4 Part A" in reminder.body
    overdue = alert_text(case.case_id, case, Step.PANEL_NOTIFICATION, True, date(2026, 12, 4),
                         True)
    assert overdue.subject == ("CSPR-2026-0001: overdue - Notify the national Panel was due "
                               "4 December 2026")
    assert "statutory" in overdue.body



def test_a_notice_says_its_target_is_the_services_own() -> None:
    """Procedure: the local authority "must also notify the Secretary of State for Education
    and Ofsted where a looked after child has died" (no time set in law). The R+5 chasing it is
    the service's own target for a statutory duty with no time limit, and says so in those
    words, never "statutory deadline"."""
    case = a_case()
    note = DeadlineNote(kind="local", duty_without_limit=True)
    text = alert_text(case.case_id, case, Step.NOTIFY_OFSTED, True, date(2026, 12, 4), True,
                      note=note)
    assert ("This service's own target (for a statutory duty on which the law sets no time "
            "limit) has passed") in text.body
    assert "Due: 4 December 2026 (the service's own target)" in text.body
    assert "statutory deadline" not in text.body
    local = alert_text(case.case_id, case, Step.RAPID_REVIEW_SUBMISSION, False,
                       date(2026, 12, 4), True,
                       note=DeadlineNote(kind="local", statutory_ahead=date(2026, 12, 9)))
    assert "the local target is near" in local.body
    assert "The statutory deadline for this step, 9 December 2026, is still to come." \
        in local.body


@pytest.mark.parametrize("letters", list(Letters))
def test_no_child_data_in_letters_mail_and_every_letter_planned(letters: Letters) -> None:
    case = a_case()
    plan = letters_plan(letters, ["A School"])
    assert plan
    for mailing in plan:
        assert mailing.letters
        text = letters_text(case, letters, mailing, [(p.kind, f"{p.kind}.docx")
                                                     for p in mailing.letters])
        for item in CHILD_DATA:
            assert item.casefold() not in (text.subject + text.body).casefold(), item
        for planned in mailing.letters:
            assert f"{planned.kind}.docx" in text.body


def test_which_letters_go_to_whom() -> None:
    inform = letters_plan(Letters.INFORM_PARTNERS)
    assert {(m.audience.label, tuple(p.kind for p in m.letters)) for m in inform} == {
        *((f"dsp/{p.value}", ("doc2", "doc4")) for p in Partner),
        *((f"ssl/{p.value}", ("doc3", "doc4")) for p in Partner)}
    assert [m.audience.label for m in letters_plan(Letters.DSP_DECISION)] == [
        "mars_team", *(f"ssl/{p.value}" for p in Partner), *(f"dsp/{p.value}" for p in Partner)]
    assert [m.audience.label for m in letters_plan(Letters.RAPID_REVIEW_SUBMISSION)] == [
        "mars_team", *(f"dsp/{p.value}" for p in Partner)]
    [request] = letters_plan(Letters.AGENCY_REQUESTS, ["A School"])
    assert [p.key(Letters.AGENCY_REQUESTS, 4) for p in request.letters] == [
        "agency_requests/4/rapid_review_request/a school",
        "agency_requests/4/agency_report_template/a school"]

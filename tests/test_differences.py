"""Differences of opinion and their escalation ladder (domain.differences), without Temporal.

Raised on Mon 2 Nov 2026 at 10:00 (London is on UTC, no bank holidays in November), with the
default targets of 5, 5 and 10 working days, each level's target date worked out by hand:
SSLs and MARS team due Mon 9 Nov (reminder Fri 6 Nov 09:00), passing at 00:00 on Tue 10 Nov;
the partners, from Tue 10 Nov, due Tue 17 Nov, passing at 00:00 on Wed 18 Nov; the Independent
Scrutiny Officer, from Wed 18 Nov, due Wed 2 Dec, passing at 00:00 on Thu 3 Dec.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from activities.calendar import DateRequest, DatesInput, compute_dates
from domain.calendar import WorkingDayCalendar
from domain.case import CaseState, ClockPoint, EventKind, Stage
from domain.decisions import (
    Actor,
    DecisionMessage,
    DspDecision,
    InformPartners,
    SslRecommendation,
)
from domain.differences import (
    LADDER,
    Difference,
    DifferenceAlertKind,
    DifferenceNotFound,
    DifferenceNotOpen,
    Differences,
    DifferenceTargets,
    EscalateDifference,
    InvalidDifference,
    Level,
    LevelEnd,
    RaiseDifference,
    ResolveDifference,
    Subject,
    parse_difference,
)
from domain.mail import DifferenceRef, alert_text
from domain.procedure import (
    CURRENT_PROCEDURE,
    CURRENT_REQUEST_PROCEDURE,
    Clock,
    Partner,
    Step,
)
from tests.factories import CHILD_REFERENCE, review_request
from tests.test_case_state import notification, record, stage_of, start_clock

CAL = WorkingDayCalendar()
POLICE_REP = Actor(subject="rep@police.test", role="dsp", organisation="police")
SSL = Actor(subject="ssl@health.test", role="ssl", organisation="health")


def utc(m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(2026, m, d, hh, mm, tzinfo=UTC)


RAISED_AT = utc(11, 2, 10)
SECOND = timedelta(seconds=1)


def date_them(differences: Differences) -> None:
    """What the workflow does: the calendar activity dates each level that has no target."""
    needs = differences.needing_dates()
    result = compute_dates(CAL, DatesInput(requests=[
        DateRequest(key=n.difference_id, start=ClockPoint(at=n.started_at),
                    working_days=n.working_days) for n in needs]))
    for n in needs:
        d = result.get(n.difference_id)
        differences.set_target(n.difference_id, n.level, d.due_date, d.deadline_at, d.remind_at)


def raised(subject: Subject = Subject.PROCESS, **targets: int) -> Differences:
    differences = Differences()
    differences.raise_(RaiseDifference(subject=subject, summary="Agency reports were late",
                                       targets=DifferenceTargets(**targets)),
                       RAISED_AT, POLICE_REP)
    date_them(differences)
    return differences


def level_of(difference: Difference) -> Level:
    """The level, read through a call so mypy does not narrow it across changes."""
    return difference.level


def test_the_ladder_and_its_default_targets() -> None:
    assert LADDER == (Level.SSL_AND_MARS, Level.SAFEGUARDING_PARTNERS,
                      Level.INDEPENDENT_SCRUTINY)
    assert [DifferenceTargets().days(level) for level in LADDER] == [5, 5, 10]
    assert DifferenceTargets.parse(" 3, 4 ,12") == DifferenceTargets(
        ssl_and_mars=3, safeguarding_partners=4, independent_scrutiny=12)


@pytest.mark.parametrize("setting", ["5,5", "5,5,10,1", "a,b,c", "0,5,10", "5,5,61", "-1,5,5"])
def test_a_bad_target_setting_is_refused_by_name(setting: str) -> None:
    with pytest.raises(ValueError, match="CSPR_DIFFERENCE_TARGET_DAYS"):
        DifferenceTargets.parse(setting)


def test_a_raised_difference_starts_with_the_ssls_and_the_mars_team() -> None:
    differences = raised()
    [d] = differences.items
    assert (d.id, d.subject, d.level, d.raised_by, d.raised_at) == (
        "DOO-1", Subject.PROCESS, Level.SSL_AND_MARS, POLICE_REP, RAISED_AT)
    assert d.open
    assert not d.overdue
    assert [(s.level, s.started_at, s.ended_at) for s in d.history] == [
        (Level.SSL_AND_MARS, RAISED_AT, None)]
    assert d.target.due_date == date(2026, 11, 9)
    assert d.target.deadline_at == utc(11, 10)
    assert d.target.remind_at == utc(11, 6, 9)
    assert differences.next_alert_at() == utc(11, 6, 9)
    differences.raise_(RaiseDifference(subject=Subject.CRITERIA, summary="Threshold"),
                       RAISED_AT, SSL)
    assert [x.id for x in differences.items] == ["DOO-1", "DOO-2"]
    assert differences.needing_dates()[0].difference_id == "DOO-2"


def test_each_level_escalates_at_the_exact_passing_of_its_target_and_the_last_is_overdue() -> None:
    differences = raised()
    d = differences.items[0]
    assert differences.due_alerts(utc(11, 6, 9) - SECOND) == []
    [reminder] = differences.due_alerts(utc(11, 6, 9))
    assert (reminder.kind, reminder.level) == (DifferenceAlertKind.REMINDER, Level.SSL_AND_MARS)
    assert differences.due_alerts(utc(11, 10) - SECOND) == []  # the reminder went once

    [escalated] = differences.due_alerts(utc(11, 10))
    assert (escalated.kind, escalated.level, escalated.due_date) == (
        DifferenceAlertKind.ESCALATED, Level.SAFEGUARDING_PARTNERS, date(2026, 11, 9))
    assert d.level is Level.SAFEGUARDING_PARTNERS
    assert (d.history[0].ended_at, d.history[0].how) == (utc(11, 10), LevelEnd.TARGET_PASSED)
    assert d.target.deadline_at is None  # its date is the calendar's to compute
    assert differences.next_alert_at() is None
    date_them(differences)
    assert d.target.due_date == date(2026, 11, 17)

    assert differences.due_alerts(utc(11, 18) - SECOND)[0].kind is DifferenceAlertKind.REMINDER
    [escalated] = differences.due_alerts(utc(11, 18))
    assert escalated.level is Level.INDEPENDENT_SCRUTINY
    date_them(differences)
    assert d.target.due_date == date(2026, 12, 2)
    assert not differences.overdue

    differences.due_alerts(utc(12, 1, 9))  # its reminder
    assert differences.due_alerts(utc(12, 3) - SECOND) == []
    [overdue] = differences.due_alerts(utc(12, 3))
    assert (overdue.kind, overdue.level) == (DifferenceAlertKind.OVERDUE,
                                             Level.INDEPENDENT_SCRUTINY)
    assert level_of(d) is Level.INDEPENDENT_SCRUTINY
    assert d.overdue
    assert differences.overdue
    assert [s.level for s in d.history] == list(LADDER)
    assert differences.due_alerts(utc(12, 30)) == []
    assert differences.next_alert_at() is None


def test_targets_captured_at_raising_count_per_level() -> None:
    differences = raised(ssl_and_mars=1, safeguarding_partners=2, independent_scrutiny=3)
    d = differences.items[0]
    assert d.target.due_date == date(2026, 11, 3)
    differences.due_alerts(utc(11, 4))
    date_them(differences)
    assert d.target.due_date == date(2026, 11, 6)


def test_a_person_escalates_with_a_reason_until_the_last_level() -> None:
    differences = raised()
    d = differences.escalate(EscalateDifference(difference_id="DOO-1", reason="No agreement"),
                             utc(11, 3, 9), SSL)
    assert d.level is Level.SAFEGUARDING_PARTNERS
    assert (d.history[0].how, d.history[0].reason, d.history[0].by) == (
        LevelEnd.ESCALATED_BY_PERSON, "No agreement", SSL)
    date_them(differences)
    assert d.target.due_date == date(2026, 11, 10)  # 5 working days from Tue 3 Nov
    differences.escalate(EscalateDifference(difference_id="DOO-1", reason="Still none"),
                         utc(11, 4, 9), SSL)
    with pytest.raises(DifferenceNotOpen, match="last level") as e:
        differences.check_escalate(EscalateDifference(difference_id="DOO-1", reason="Again"))
    assert e.value.field == "difference_id"


def test_resolving_closes_the_difference() -> None:
    differences = raised()
    resolve = ResolveDifference(difference_id="DOO-1", outcome="Reports now on time",
                                resolved_on=date(2026, 11, 4))
    d = differences.resolve(resolve, utc(11, 5, 10), SSL)
    assert not d.open
    assert d.resolution is not None
    assert (d.resolution.level, d.resolution.outcome, d.resolution.by,
            d.resolution.resolved_on) == (Level.SSL_AND_MARS, "Reports now on time", SSL,
                                          date(2026, 11, 4))
    assert d.history[-1].how is LevelEnd.RESOLVED
    assert differences.next_alert_at() is None
    assert differences.due_alerts(utc(12, 30)) == []
    with pytest.raises(DifferenceNotOpen, match="already resolved"):
        differences.resolve(resolve, utc(11, 5, 11), SSL)
    with pytest.raises(DifferenceNotOpen, match="already resolved"):
        differences.escalate(EscalateDifference(difference_id="DOO-1", reason="x"),
                             utc(11, 5, 11), SSL)


@pytest.mark.parametrize(("kind", "record", "field"), [
    (RaiseDifference, {"subject": "process"}, "summary"),
    (RaiseDifference, {"subject": "weather-xyzzy", "summary": "x"}, "subject"),
    (RaiseDifference, {"subject": "process", "summary": "   "}, "summary"),
    (RaiseDifference, {"subject": "process", "summary": "x",
                       "targets": {"ssl_and_mars": 0}}, "targets.ssl_and_mars"),
    (RaiseDifference, {"subject": "process", "summary": "x", "colour": "crimson-qq"}, "colour"),
    (EscalateDifference, {"difference_id": "DOO-0", "reason": "x"}, "difference_id"),
    (EscalateDifference, {"difference_id": "DOO-1"}, "reason"),
    (ResolveDifference, {"difference_id": "DOO-1", "outcome": "x", "resolved_on": "soon"},
     "resolved_on"),
])
def test_bad_input_is_refused_naming_the_field(
    kind: type[RaiseDifference | EscalateDifference | ResolveDifference],
    record: dict[str, object], field: str,
) -> None:
    with pytest.raises(InvalidDifference) as e:
        parse_difference(DecisionMessage(record=record), kind)
    assert e.value.field == field
    assert "crimson-qq" not in str(e.value)
    assert "xyzzy" not in str(e.value)


def test_bad_references_and_dates_are_refused_and_change_nothing() -> None:
    differences = raised()
    before = differences.model_dump()
    with pytest.raises(DifferenceNotFound):
        differences.check_escalate(EscalateDifference(difference_id="DOO-9", reason="x"))
    with pytest.raises(InvalidDifference) as e:
        differences.resolve(ResolveDifference(difference_id="DOO-1", outcome="x",
                                              resolved_on=date(2026, 11, 7)), utc(11, 5), SSL)
    assert (e.value.field, e.value.reason) == ("resolved_on", "is in the future")
    with pytest.raises(InvalidDifference, match="before the difference was raised"):
        differences.resolve(ResolveDifference(difference_id="DOO-1", outcome="x",
                                              resolved_on=date(2026, 11, 1)), utc(11, 5), SSL)
    assert differences.model_dump() == before


# -- in a case ---------------------------------------------------------------------------------

def at_dsp_decision(automatic: bool, request: bool = False) -> CaseState:
    if request:
        case = CaseState.open_request("CSPR-2026-TEST02", CURRENT_REQUEST_PROCEDURE,
                                      review_request(utc(11, 2, 10)))
    else:
        case = CaseState.open_case("CSPR-2026-TEST01", CURRENT_PROCEDURE, notification())
    start_clock(case, Clock.RECEIVED, ClockPoint(at=utc(11, 2, 10)))
    case.differences.automatic = automatic
    record(case, InformPartners(), utc(11, 2, 11))
    record(case, SslRecommendation(criteria_met=True, rationale="Doc 4 Part A",
                                   recommend_panel_notification=None if request else True),
           utc(11, 3, 11))
    return case


def dsp(partner: Partner, met: bool) -> DspDecision:
    return DspDecision(partner=partner, criteria_met=met, rationale="Doc 4 Part B")


def split(case: CaseState) -> None:
    record(case, dsp(Partner.LOCAL_AUTHORITY, True), utc(11, 4, 10))
    record(case, dsp(Partner.HEALTH, True), utc(11, 4, 11))
    record(case, dsp(Partner.POLICE, False), utc(11, 4, 12))


def test_the_partners_disagreeing_raise_a_difference_at_their_own_level() -> None:
    case = at_dsp_decision(automatic=True)
    split(case)
    assert case.stage is Stage.DIFFERENCE_OF_OPINION
    [d] = case.differences.items
    assert (d.subject, d.level, d.raised_by, d.step, d.raised_at) == (
        Subject.CRITERIA, Level.SAFEGUARDING_PARTNERS, None, Step.DSP_DECISION, utc(11, 4, 12))
    [event] = [e for e in case.events if e.kind is EventKind.DIFFERENCE_RAISED]
    assert event.detail == "DOO-1 criteria safeguarding_partners"
    date_them(case.differences)
    assert d.target.due_date == date(2026, 11, 11)
    # Still split: no second difference.
    record(case, dsp(Partner.HEALTH, False), utc(11, 5, 10))
    assert len(case.differences.items) == 1
    # Agreed: resolved by the case itself, at the level it had reached.
    record(case, dsp(Partner.LOCAL_AUTHORITY, False), utc(11, 5, 11))
    assert stage_of(case) is Stage.CLOSED
    assert d.resolution is not None
    assert (d.resolution.by, d.resolution.level, d.resolution.outcome) == (
        None, Level.SAFEGUARDING_PARTNERS, "The partners agreed the criteria are not met")
    assert [e.kind for e in case.events][-3:] == [EventKind.RECORDED,
                                                  EventKind.DIFFERENCE_RESOLVED, EventKind.STAGE]


def test_the_case_raises_its_own_with_the_targets_it_started_with() -> None:
    case = at_dsp_decision(automatic=True)
    case.differences.targets = DifferenceTargets(safeguarding_partners=2)
    split(case)
    assert case.differences.items[0].targets == DifferenceTargets(safeguarding_partners=2)
    assert case.differences.items[0].target.working_days == 2


def test_a_request_s_partners_disagree_on_whether_to_review() -> None:
    case = at_dsp_decision(automatic=True, request=True)
    split(case)
    [d] = case.differences.items
    assert d.subject is Subject.WHETHER_TO_REVIEW
    record(case, dsp(Partner.POLICE, True), utc(11, 5, 11))
    assert case.stage is Stage.LOCAL_REVIEW
    assert d.resolution is not None
    assert d.resolution.outcome == "The partners agreed to undertake a CSPR"


def test_without_the_patch_a_disagreement_raises_none() -> None:
    case = at_dsp_decision(automatic=False)
    split(case)
    assert case.stage is Stage.DIFFERENCE_OF_OPINION
    assert case.differences.items == []
    assert not any(e.kind is EventKind.DIFFERENCE_RAISED for e in case.events)


def test_a_case_records_the_ladder_as_events_and_an_overdue_difference_makes_it_overdue() -> None:
    case = at_dsp_decision(automatic=False)
    d = case.raise_difference(RaiseDifference(subject=Subject.PROCESS, summary="Late letters"),
                              utc(11, 4, 9), POLICE_REP)
    date_them(case.differences)
    case.escalate_difference(EscalateDifference(difference_id=d.id, reason="Unresolved"),
                             utc(11, 4, 10), SSL)
    date_them(case.differences)
    case.difference_alerts(utc(11, 12))  # the partners' target passed
    date_them(case.differences)
    case.difference_alerts(utc(12, 31))
    assert case.differences.overdue
    assert case.overdue
    kinds = [(e.kind, e.detail) for e in case.events if e.kind.value.startswith("difference_")]
    assert kinds == [
        (EventKind.DIFFERENCE_RAISED, "DOO-1 process ssl_and_mars"),
        (EventKind.DIFFERENCE_ESCALATED, "DOO-1 safeguarding_partners escalated_by_person"),
        (EventKind.DIFFERENCE_ESCALATED,
         "DOO-1 independent_scrutiny target 2026-11-11 target_passed"),
        (EventKind.DIFFERENCE_OVERDUE, "DOO-1 independent_scrutiny target 2026-11-26"),
    ]
    assert case.events[-1].actor is None
    assert case.events[0].kind is not EventKind.DIFFERENCE_RAISED
    raised_event = next(e for e in case.events if e.kind is EventKind.DIFFERENCE_RAISED)
    assert raised_event.actor == POLICE_REP
    assert "Late letters" not in str([e.detail for e in case.events])


def test_nothing_is_raised_or_changed_on_a_closed_case() -> None:
    case = at_dsp_decision(automatic=True)
    for partner in Partner:
        record(case, dsp(partner, False), utc(11, 4, 10))
    assert case.closed
    with pytest.raises(DifferenceNotOpen, match="the case is closed"):
        case.raise_difference(RaiseDifference(subject=Subject.PROCESS, summary="x"),
                              utc(11, 5), SSL)
    assert case.differences.items == []
    assert case.next_difference_alert_at() is None


def test_each_difference_alert_e_mail_names_its_difference() -> None:
    """Issue 11, item 12: two differences escalated at once e-mailed six alerts with one subject.
    Each alert's subject and body name its difference and level (never its text, nor the
    child), read from the alert's own event as the workflow reads it."""
    case = at_dsp_decision(automatic=False)
    for summary in ("Late letters", "Agency reports missing"):
        case.raise_difference(RaiseDifference(subject=Subject.PROCESS, summary=summary),
                              utc(11, 4, 9), POLICE_REP)
    date_them(case.differences)
    case.difference_alerts(utc(11, 12))  # both SSL-and-MARS targets passed: escalated
    alerts = [e for e in case.events if e.kind is EventKind.DIFFERENCE_ESCALATED]
    assert len(alerts) == 2
    texts = []
    for event in alerts:
        difference, target = DifferenceRef.of_event(event.detail)
        assert difference is not None
        assert target is not None
        texts.append(alert_text(case.case_id, case, "difference_of_opinion", True, target,
                                False, difference))
    subjects = [t.subject for t in texts]
    assert len(set(subjects)) == 2
    # Referred on to the partners once the first level's target passed.
    assert "DOO-1 at the safeguarding partners level" in subjects[0]
    assert "DOO-2 at the safeguarding partners level" in subjects[1]
    assert subjects[0].endswith("passed")
    for text in texts:
        assert "Difference of opinion: DOO-" in text.body
        for secret in ("Late letters", "Agency reports missing", CHILD_REFERENCE):
            assert secret not in text.subject
            assert secret not in text.body


def test_a_differences_free_text_is_erased_with_the_case_record() -> None:
    """The retention schedule erases every free-text field of the case: a difference's
    summary, the reason a person escalated it and its outcome are kept in the case's state
    as plain strings, each marked to be erased (domain.text.StateText)."""
    from domain.retention import ERASED, anonymise

    differences = raised(Subject.PROCESS)
    (difference,) = differences.items
    differences.escalate(EscalateDifference(difference_id=difference.id,
                                            reason="Private reason"), RAISED_AT + SECOND,
                         POLICE_REP)
    date_them(differences)
    differences.resolve(ResolveDifference(difference_id=difference.id,
                                          outcome="Private outcome"), RAISED_AT + 2 * SECOND,
                        POLICE_REP)
    erased = anonymise(differences)
    assert isinstance(erased, Differences)
    assert "Private" not in erased.model_dump_json()
    assert "Agency reports" not in erased.model_dump_json()
    (kept,) = erased.items
    assert kept.summary == ERASED
    assert kept.resolution is not None
    assert kept.resolution.outcome == ERASED
    assert [s.reason for s in kept.history if s.reason is not None] == [ERASED]
    assert kept.level is difference.level

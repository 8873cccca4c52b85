"""Due dates, deadlines and reminder times computed from one clock (activities.calendar).

Expected values were worked out by hand: the working days from a calendar, the instants from
London's offset on the day (GMT = UTC in winter, BST = UTC+1 from 29 Mar to 25 Oct 2026).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from activities.calendar import DueDatesInput, DueDatesResult, due_dates
from domain.calendar import WorkingDayCalendar
from domain.case import ClockPoint, DueDate
from domain.procedure import NL_CSPR_2025_06_R2, Clock, Deadline, DeadlineKind, Step

# DESIGN.md's tables are procedure r2's; r3 (the DSPs' sign-off D+14, the wellbeing sessions
# with no date) and r4 (the Panel notification from clock A) are in tests/test_procedure_r3.py.
CURRENT_PROCEDURE = NL_CSPR_2025_06_R2

CAL = WorkingDayCalendar()
R_STEPS = [Step.INFORM_PARTNERS, Step.SSL_RECOMMENDATION, Step.DSP_DECISION,
           Step.PANEL_NOTIFICATION]
D_STEPS = [Step.AGENCY_REQUESTS, Step.AGENCY_REPORTS, Step.RAPID_REVIEW_MEETING,
           Step.RAPID_REVIEW_REPORT, Step.RAPID_REVIEW_SIGNOFF, Step.WELLBEING_SESSIONS,
           Step.RAPID_REVIEW_SUBMISSION]


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def compute(clock: Clock, start: ClockPoint, steps: list[Step]) -> DueDatesResult:
    return due_dates(CAL, DueDatesInput(procedure_version=CURRENT_PROCEDURE.version,
                                        clock=clock, start=start, steps=steps))


def table(result: DueDatesResult) -> list[tuple[Step, date, datetime, datetime]]:
    return [(d.step, d.due_date, d.deadline_at, d.remind_at) for d in result.due]


# -- the procedure as data matches DESIGN.md's tables -----------------------------------------

_L, _S = DeadlineKind.LOCAL, DeadlineKind.STATUTORY
_R, _D, _P = Clock.RECEIVED, Clock.RAPID_REVIEW_DECISION, Clock.PANEL_NOTIFIED


@pytest.mark.parametrize(
    ("step", "deadlines"),
    [
        (Step.INFORM_PARTNERS, (Deadline(_R, 1, _L),)),
        (Step.SSL_RECOMMENDATION, (Deadline(_R, 3, _L),)),
        (Step.DSP_DECISION, (Deadline(_R, 4, _L),)),
        (Step.PANEL_NOTIFICATION, (Deadline(_R, 5, _S),)),
        (Step.AGENCY_REQUESTS, (Deadline(_D, 1, _L),)),
        (Step.AGENCY_REPORTS, (Deadline(_D, 5, _L),)),
        (Step.RAPID_REVIEW_MEETING, (Deadline(_D, 6, _L),)),
        (Step.RAPID_REVIEW_REPORT, (Deadline(_D, 11, _L),)),
        # No target of its own in Flowchart 2: it gates the submission instead.
        (Step.RAPID_REVIEW_SIGNOFF, ()),
        (Step.WELLBEING_SESSIONS, (Deadline(_D, 14, _L),)),
        (Step.RAPID_REVIEW_SUBMISSION, (Deadline(_D, 15, _L), Deadline(_P, 15, _S))),
        (Step.PANEL_RESPONSE, ()),
    ],
)
def test_procedure_deadlines_match_the_design(step: Step, deadlines: tuple[Deadline, ...]) -> None:
    assert CURRENT_PROCEDURE.spec(step).deadlines == deadlines


# -- clock R from an instant ------------------------------------------------------------------


def test_clock_r_over_christmas_2026() -> None:
    # Mon 21 Dec 2026 10:00 GMT. 25 Dec Fri, Boxing Day observed Mon 28 Dec.
    result = compute(Clock.RECEIVED, ClockPoint(at=utc(2026, 12, 21, 10)), R_STEPS)
    assert result.clock_date == date(2026, 12, 21)
    assert table(result) == [
        # The reminder on the previous working day (21 Dec 09:00) would be before the clock
        # started (10:00), so it goes on the due date itself.
        (Step.INFORM_PARTNERS, date(2026, 12, 22), utc(2026, 12, 23), utc(2026, 12, 22, 9)),
        (Step.SSL_RECOMMENDATION, date(2026, 12, 24), utc(2026, 12, 25), utc(2026, 12, 23, 9)),
        (Step.DSP_DECISION, date(2026, 12, 29), utc(2026, 12, 30), utc(2026, 12, 24, 9)),
        (Step.PANEL_NOTIFICATION, date(2026, 12, 30), utc(2026, 12, 31), utc(2026, 12, 29, 9)),
    ]


@pytest.mark.parametrize(
    ("started", "remind"),
    [
        pytest.param(utc(2026, 12, 21, 8, 30), utc(2026, 12, 21, 9), id="before-9-same-day"),
        pytest.param(utc(2026, 12, 21, 9), utc(2026, 12, 22, 9), id="exactly-9-on-due-date"),
        pytest.param(utc(2026, 12, 21, 9, 1), utc(2026, 12, 22, 9), id="after-9-on-due-date"),
    ],
)
def test_first_reminder_never_at_or_before_the_clock_start(
    started: datetime, remind: datetime
) -> None:
    result = compute(Clock.RECEIVED, ClockPoint(at=started), [Step.INFORM_PARTNERS])
    [due] = result.due
    assert due.due_date == date(2026, 12, 22)
    assert due.remind_at == remind
    assert due.remind_at > started


def test_clock_r_uses_the_london_date_in_summer() -> None:
    # 23:30 UTC on Tue 30 Jun 2026 is 00:30 BST on Wed 1 Jul: R is 1 Jul, not 30 Jun.
    result = compute(Clock.RECEIVED, ClockPoint(at=utc(2026, 6, 30, 23, 30)), R_STEPS)
    assert result.clock_date == date(2026, 7, 1)
    assert table(result) == [
        # Midnight BST is 23:00 UTC the day before; 09:00 BST is 08:00 UTC.
        (Step.INFORM_PARTNERS, date(2026, 7, 2), utc(2026, 7, 2, 23), utc(2026, 7, 1, 8)),
        (Step.SSL_RECOMMENDATION, date(2026, 7, 6), utc(2026, 7, 6, 23), utc(2026, 7, 3, 8)),
        (Step.DSP_DECISION, date(2026, 7, 7), utc(2026, 7, 7, 23), utc(2026, 7, 6, 8)),
        (Step.PANEL_NOTIFICATION, date(2026, 7, 8), utc(2026, 7, 8, 23), utc(2026, 7, 7, 8)),
    ]


def test_clock_r_received_on_a_saturday() -> None:
    # Sat 7 Nov 2026: R+1 is Mon 9 Nov; a reminder on Fri 6 Nov would precede the notification.
    result = compute(Clock.RECEIVED, ClockPoint(at=utc(2026, 11, 7, 11)),
                     [Step.INFORM_PARTNERS, Step.PANEL_NOTIFICATION])
    assert table(result) == [
        (Step.INFORM_PARTNERS, date(2026, 11, 9), utc(2026, 11, 10), utc(2026, 11, 9, 9)),
        (Step.PANEL_NOTIFICATION, date(2026, 11, 13), utc(2026, 11, 14), utc(2026, 11, 12, 9)),
    ]


# -- clock D given as a date ------------------------------------------------------------------


def test_clock_d_given_as_a_date_across_easter_2025() -> None:
    # Thu 17 Apr 2025 (BST). Midnight BST = 23:00 UTC the day before, 09:00 BST = 08:00 UTC.
    result = compute(Clock.RAPID_REVIEW_DECISION, ClockPoint(on=date(2025, 4, 17)), D_STEPS)
    assert result.clock_date == date(2025, 4, 17)
    assert table(result) == [
        (Step.AGENCY_REQUESTS, date(2025, 4, 22), utc(2025, 4, 22, 23), utc(2025, 4, 17, 8)),
        (Step.AGENCY_REPORTS, date(2025, 4, 28), utc(2025, 4, 28, 23), utc(2025, 4, 25, 8)),
        (Step.RAPID_REVIEW_MEETING, date(2025, 4, 29), utc(2025, 4, 29, 23),
         utc(2025, 4, 28, 8)),
        # Mon 5 May is the early May bank holiday: the reminder goes on Tue 6 May.
        (Step.RAPID_REVIEW_REPORT, date(2025, 5, 7), utc(2025, 5, 7, 23), utc(2025, 5, 6, 8)),
        (Step.WELLBEING_SESSIONS, date(2025, 5, 12), utc(2025, 5, 12, 23), utc(2025, 5, 9, 8)),
        # Clock D only: the submission's P+15 statutory deadline is not computed here.
        (Step.RAPID_REVIEW_SUBMISSION, date(2025, 5, 13), utc(2025, 5, 13, 23),
         utc(2025, 5, 12, 8)),
    ]


def test_clock_given_as_a_weekend_date() -> None:
    # Sat 7 Nov 2026: the clock starts at midnight; Fri 6 Nov 09:00 is before it.
    result = compute(Clock.RAPID_REVIEW_DECISION, ClockPoint(on=date(2026, 11, 7)),
                     [Step.AGENCY_REQUESTS])
    assert table(result) == [
        (Step.AGENCY_REQUESTS, date(2026, 11, 9), utc(2026, 11, 10), utc(2026, 11, 9, 9)),
    ]


def test_a_given_date_wins_over_an_instant() -> None:
    result = compute(Clock.RAPID_REVIEW_DECISION,
                     ClockPoint(on=date(2026, 11, 2), at=utc(2026, 11, 5, 12)),
                     [Step.AGENCY_REQUESTS])
    assert result.clock_date == date(2026, 11, 2)
    assert [d.due_date for d in result.due] == [date(2026, 11, 3)]


# -- the submission's two deadlines -----------------------------------------------------------


def test_submission_on_clock_p_gets_only_the_statutory_deadline() -> None:
    # Panel notified Mon 9 Nov 2026 15:00 GMT: P+15 is Mon 30 Nov (no holidays in November).
    result = compute(Clock.PANEL_NOTIFIED, ClockPoint(at=utc(2026, 11, 9, 15)),
                     [Step.RAPID_REVIEW_SUBMISSION])
    assert result.clock_date == date(2026, 11, 9)
    assert table(result) == [
        (Step.RAPID_REVIEW_SUBMISSION, date(2026, 11, 30), utc(2026, 12, 1),
         utc(2026, 11, 27, 9)),
    ]


def test_submission_on_clock_d_gets_only_the_local_deadline() -> None:
    # D Wed 4 Nov 2026: D+15 is Wed 25 Nov.
    result = compute(Clock.RAPID_REVIEW_DECISION, ClockPoint(at=utc(2026, 11, 4, 12)),
                     [Step.RAPID_REVIEW_SUBMISSION])
    assert table(result) == [
        (Step.RAPID_REVIEW_SUBMISSION, date(2026, 11, 25), utc(2026, 11, 26),
         utc(2026, 11, 24, 9)),
    ]


def test_steps_without_a_deadline_on_the_clock_are_left_out() -> None:
    result = compute(Clock.PANEL_NOTIFIED, ClockPoint(at=utc(2026, 11, 9, 15)),
                     [Step.INFORM_PARTNERS, Step.AGENCY_REPORTS, Step.PANEL_RESPONSE])
    assert result.due == []
    assert result.clock_date == date(2026, 11, 9)


def test_the_result_feeds_due_date_models() -> None:
    result = compute(Clock.RECEIVED, ClockPoint(at=utc(2026, 11, 2, 10)), [Step.DSP_DECISION])
    assert result.due == [DueDate(step=Step.DSP_DECISION, due_date=date(2026, 11, 6),
                                  deadline_at=utc(2026, 11, 7), remind_at=utc(2026, 11, 5, 9))]


def test_extra_holiday_moves_the_due_date() -> None:
    cal = WorkingDayCalendar(extra_holidays=[date(2026, 11, 3)])
    result = due_dates(cal, DueDatesInput(
        procedure_version=CURRENT_PROCEDURE.version, clock=Clock.RECEIVED,
        start=ClockPoint(at=utc(2026, 11, 2, 10)), steps=[Step.INFORM_PARTNERS]))
    assert table(result) == [
        (Step.INFORM_PARTNERS, date(2026, 11, 4), utc(2026, 11, 5), utc(2026, 11, 4, 9)),
    ]


def test_a_clock_point_with_neither_date_nor_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="neither a date nor an instant"):
        compute(Clock.RECEIVED, ClockPoint(), R_STEPS)

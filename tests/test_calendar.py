"""The working-day calendar: England's weekends and bank holidays, and London's dates.

Every expected date below was worked out by hand from a printed calendar and the gov.uk list of
bank holidays, never with the code under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from domain.calendar import (
    WorkingDayCalendar,
    end_of_day,
    latest_london_date,
    london_date,
    london_instant,
)

CAL = WorkingDayCalendar()


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


# -- bank holidays and weekends ---------------------------------------------------------------

BANK_HOLIDAYS = [
    pytest.param(date(2024, 12, 25), id="christmas-2024-wed"),
    pytest.param(date(2024, 12, 26), id="boxing-day-2024-thu"),
    pytest.param(date(2027, 12, 27), id="christmas-2027-substitute-mon"),
    pytest.param(date(2027, 12, 28), id="boxing-day-2027-substitute-tue"),
    pytest.param(date(2026, 12, 28), id="boxing-day-2026-substitute-mon"),
    pytest.param(date(2022, 1, 3), id="new-year-2022-substitute-mon"),
    pytest.param(date(2025, 4, 18), id="good-friday-2025"),
    pytest.param(date(2025, 4, 21), id="easter-monday-2025"),
    pytest.param(date(2026, 4, 3), id="good-friday-2026"),
    pytest.param(date(2026, 4, 6), id="easter-monday-2026"),
    pytest.param(date(2022, 9, 19), id="queens-funeral-2022"),
    pytest.param(date(2023, 5, 8), id="coronation-2023"),
    pytest.param(date(2022, 6, 2), id="spring-bank-holiday-moved-2022"),
    pytest.param(date(2022, 6, 3), id="platinum-jubilee-2022"),
    pytest.param(date(2025, 5, 5), id="early-may-2025"),
    pytest.param(date(2026, 8, 31), id="summer-2026"),
]


@pytest.mark.parametrize("day", BANK_HOLIDAYS)
def test_bank_holidays_are_not_working_days(day: date) -> None:
    assert day.weekday() < 5, "a weekday holiday: the weekend rule alone would not exclude it"
    assert CAL.is_bank_holiday(day)
    assert not CAL.is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [
        pytest.param(date(2024, 12, 24), id="christmas-eve-2024"),
        pytest.param(date(2024, 12, 27), id="friday-after-boxing-day-2024"),
        pytest.param(date(2027, 12, 29), id="after-2027-substitutes"),
        pytest.param(date(2022, 1, 4), id="after-new-year-2022-substitute"),
        pytest.param(date(2025, 4, 17), id="maundy-thursday-2025"),
        pytest.param(date(2025, 4, 22), id="tuesday-after-easter-2025"),
        pytest.param(date(2022, 9, 20), id="after-queens-funeral"),
        pytest.param(date(2026, 11, 2), id="ordinary-monday"),
    ],
)
def test_ordinary_weekdays_are_working_days(day: date) -> None:
    assert not CAL.is_bank_holiday(day)
    assert CAL.is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [date(2026, 11, 7), date(2026, 11, 8), date(2027, 12, 25), date(2022, 1, 1)],
    ids=["saturday", "sunday", "christmas-2027-saturday", "new-year-2022-saturday"],
)
def test_weekends_are_not_working_days(day: date) -> None:
    assert day.weekday() >= 5
    assert not CAL.is_working_day(day)


# -- counting working days --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        pytest.param(date(2026, 11, 6), 1, date(2026, 11, 9), id="friday-to-monday"),
        pytest.param(date(2026, 11, 2), 5, date(2026, 11, 9), id="monday-plus-5-is-next-monday"),
        pytest.param(date(2026, 11, 2), 10, date(2026, 11, 16), id="two-weeks"),
        pytest.param(date(2024, 12, 24), 1, date(2024, 12, 27), id="over-christmas-2024"),
        pytest.param(date(2024, 12, 23), 3, date(2024, 12, 30), id="christmas-2024-three-days"),
        pytest.param(date(2027, 12, 24), 1, date(2027, 12, 29), id="over-2027-substitutes"),
        pytest.param(date(2021, 12, 31), 1, date(2022, 1, 4), id="over-new-year-2022-observed"),
        pytest.param(date(2025, 4, 17), 1, date(2025, 4, 22), id="over-easter-2025"),
        pytest.param(date(2026, 4, 2), 1, date(2026, 4, 7), id="over-easter-2026"),
        pytest.param(date(2022, 9, 16), 1, date(2022, 9, 20), id="over-queens-funeral"),
        pytest.param(date(2023, 5, 5), 1, date(2023, 5, 9), id="over-coronation"),
        pytest.param(date(2022, 6, 1), 1, date(2022, 6, 6), id="over-jubilee-weekend"),
        pytest.param(date(2026, 11, 7), 1, date(2026, 11, 9), id="start-saturday"),
        pytest.param(date(2026, 11, 8), 1, date(2026, 11, 9), id="start-sunday"),
        pytest.param(date(2024, 12, 25), 1, date(2024, 12, 27), id="start-christmas-day"),
        pytest.param(date(2025, 4, 18), 1, date(2025, 4, 22), id="start-good-friday"),
    ],
)
def test_add_working_days(start: date, days: int, expected: date) -> None:
    assert CAL.add_working_days(start, days) == expected


@pytest.mark.parametrize(
    "start",
    [date(2026, 11, 4), date(2026, 11, 7), date(2024, 12, 25)],
    ids=["working-day", "saturday", "christmas"],
)
def test_zero_days_is_the_start_itself(start: date) -> None:
    assert CAL.add_working_days(start, 0) == start


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        pytest.param(date(2026, 11, 9), -1, date(2026, 11, 6), id="monday-back-to-friday"),
        # Publication Thu 24 Apr 2025: 23, 22, (21 Easter Monday, 20, 19, 18 Good Friday),
        # 17, 16, 15, 14, 11 -> the 7th working day before is Fri 11 Apr.
        pytest.param(date(2025, 4, 24), -7, date(2025, 4, 11), id="7-before-across-easter-2025"),
        pytest.param(date(2025, 4, 22), -1, date(2025, 4, 17), id="back-over-easter-2025"),
        pytest.param(date(2026, 12, 29), -1, date(2026, 12, 24), id="back-over-christmas-2026"),
        pytest.param(date(2026, 11, 8), -1, date(2026, 11, 6), id="start-sunday-backwards"),
        pytest.param(date(2024, 12, 25), -1, date(2024, 12, 24), id="start-christmas-backwards"),
    ],
)
def test_negative_days_count_backwards(start: date, days: int, expected: date) -> None:
    assert CAL.add_working_days(start, days) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 10), date(2026, 11, 9)),
        (date(2026, 11, 9), date(2026, 11, 6)),
        (date(2026, 12, 29), date(2026, 12, 24)),
        (date(2025, 4, 22), date(2025, 4, 17)),
    ],
)
def test_previous_working_day(day: date, expected: date) -> None:
    assert CAL.previous_working_day(day) == expected


def test_extra_holiday_is_skipped() -> None:
    cal = WorkingDayCalendar(extra_holidays=[date(2026, 11, 3)])
    assert cal.is_bank_holiday(date(2026, 11, 3))
    assert not cal.is_working_day(date(2026, 11, 3))
    assert cal.add_working_days(date(2026, 11, 2), 1) == date(2026, 11, 4)
    # Another calendar is not affected.
    assert CAL.add_working_days(date(2026, 11, 2), 1) == date(2026, 11, 3)


def test_removed_holiday_becomes_a_working_day() -> None:
    cal = WorkingDayCalendar(removed_holidays=[date(2024, 12, 26)])
    assert not cal.is_bank_holiday(date(2024, 12, 26))
    assert cal.is_working_day(date(2024, 12, 26))
    assert cal.add_working_days(date(2024, 12, 24), 1) == date(2024, 12, 26)
    assert CAL.add_working_days(date(2024, 12, 24), 1) == date(2024, 12, 27)


def test_removing_a_holiday_on_a_weekend_keeps_the_weekend() -> None:
    cal = WorkingDayCalendar(removed_holidays=[date(2027, 12, 25)])
    assert not cal.is_working_day(date(2027, 12, 25))


# -- whole timelines from DESIGN.md -----------------------------------------------------------

# Flowchart 1, clock R: inform_partners R+1, ssl_recommendation R+3, dsp_decision R+4,
# panel_notification R+5.
R_OFFSETS = (1, 3, 4, 5)


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        # Mon 21 Dec 2026: 25 Dec is a Friday, Boxing Day (Sat) is observed Mon 28 Dec.
        pytest.param(date(2026, 12, 21),
                     (date(2026, 12, 22), date(2026, 12, 24), date(2026, 12, 29),
                      date(2026, 12, 30)), id="christmas-2026"),
        # Thu 23 Dec 2027: 27 and 28 Dec substitute days, 3 Jan 2028 New Year substitute.
        pytest.param(date(2027, 12, 23),
                     (date(2027, 12, 24), date(2027, 12, 30), date(2027, 12, 31),
                      date(2028, 1, 4)), id="christmas-2027-and-new-year-2028"),
        # Fri 16 Sep 2022: Mon 19 Sep the Queen's state funeral.
        pytest.param(date(2022, 9, 16),
                     (date(2022, 9, 20), date(2022, 9, 22), date(2022, 9, 23),
                      date(2022, 9, 26)), id="queens-funeral"),
        # Wed 1 Jun 2022: Thu 2 and Fri 3 Jun the Jubilee holidays.
        pytest.param(date(2022, 6, 1),
                     (date(2022, 6, 6), date(2022, 6, 8), date(2022, 6, 9),
                      date(2022, 6, 10)), id="jubilee"),
        # Fri 5 May 2023: Mon 8 May the Coronation.
        pytest.param(date(2023, 5, 5),
                     (date(2023, 5, 9), date(2023, 5, 11), date(2023, 5, 12),
                      date(2023, 5, 15)), id="coronation"),
    ],
)
def test_notification_timeline(received: date, expected: tuple[date, ...]) -> None:
    assert tuple(CAL.add_working_days(received, n) for n in R_OFFSETS) == expected


# Flowchart 2, clock D: agency_requests D+1, agency_reports D+5, rapid_review_meeting D+6,
# rapid_review_report D+11, wellbeing_sessions D+14, rapid_review_submission D+15.
D_OFFSETS = (1, 5, 6, 11, 14, 15)


@pytest.mark.parametrize(
    ("decided", "expected"),
    [
        # Thu 17 Apr 2025: Good Friday 18, Easter Monday 21 Apr, early May bank holiday 5 May.
        pytest.param(date(2025, 4, 17),
                     (date(2025, 4, 22), date(2025, 4, 28), date(2025, 4, 29),
                      date(2025, 5, 7), date(2025, 5, 12), date(2025, 5, 13)),
                     id="easter-2025"),
        # Thu 2 Apr 2026: Good Friday 3, Easter Monday 6 Apr.
        pytest.param(date(2026, 4, 2),
                     (date(2026, 4, 7), date(2026, 4, 13), date(2026, 4, 14),
                      date(2026, 4, 21), date(2026, 4, 24), date(2026, 4, 27)),
                     id="easter-2026"),
    ],
)
def test_rapid_review_timeline(decided: date, expected: tuple[date, ...]) -> None:
    assert tuple(CAL.add_working_days(decided, n) for n in D_OFFSETS) == expected


# -- London dates and instants ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param(utc(2026, 1, 15, 23, 30), date(2026, 1, 15), id="winter-late-evening"),
        pytest.param(utc(2026, 3, 28, 23, 30), date(2026, 3, 28), id="night-before-bst"),
        # BST starts at 01:00 UTC on Sun 29 Mar 2026: 00:30 UTC is still 00:30 GMT.
        pytest.param(utc(2026, 3, 29, 0, 30), date(2026, 3, 29), id="just-before-bst-starts"),
        pytest.param(utc(2026, 3, 29, 23, 30), date(2026, 3, 30), id="first-bst-evening"),
        pytest.param(utc(2026, 6, 30, 23, 30), date(2026, 7, 1), id="summer-late-evening"),
        pytest.param(utc(2026, 6, 30, 22, 59), date(2026, 6, 30), id="summer-before-midnight"),
        # BST ends at 01:00 UTC on Sun 25 Oct 2026.
        pytest.param(utc(2026, 10, 24, 23, 30), date(2026, 10, 25), id="last-bst-evening"),
        pytest.param(utc(2026, 10, 25, 23, 30), date(2026, 10, 25), id="first-gmt-evening"),
        pytest.param(datetime(2026, 7, 1, 0, 30, tzinfo=timezone(timedelta(hours=-5))),
                     date(2026, 7, 1), id="other-offset"),
    ],
)
def test_london_date(instant: datetime, expected: date) -> None:
    assert london_date(instant) == expected


def test_london_date_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        london_date(datetime(2026, 6, 30, 23, 30))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(date(2026, 1, 15), utc(2026, 1, 16), id="winter"),
        pytest.param(date(2026, 6, 30), utc(2026, 6, 30, 23), id="summer"),
        # The midnight that ends 28 Mar is still GMT; the one that ends 29 Mar is BST.
        pytest.param(date(2026, 3, 28), utc(2026, 3, 29), id="day-before-bst"),
        pytest.param(date(2026, 3, 29), utc(2026, 3, 29, 23), id="bst-starts"),
        pytest.param(date(2026, 10, 24), utc(2026, 10, 24, 23), id="day-before-gmt"),
        pytest.param(date(2026, 10, 25), utc(2026, 10, 26), id="gmt-resumes"),
    ],
)
def test_end_of_day_is_london_midnight_in_utc(day: date, expected: datetime) -> None:
    end = end_of_day(day)
    assert end == expected
    assert end.utcoffset() == timedelta(0)


def test_london_instant_of_a_wall_clock_time() -> None:
    assert london_instant(date(2026, 1, 15), time(9, 0)) == utc(2026, 1, 15, 9)
    assert london_instant(date(2026, 7, 1), time(9, 0)) == utc(2026, 7, 1, 8)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(utc(2026, 1, 15, 12), date(2026, 1, 15), id="midday"),
        # An hour's allowance: in winter London is on UTC, so this is an upper bound.
        pytest.param(utc(2026, 1, 15, 23, 30), date(2026, 1, 16), id="winter-bound"),
        pytest.param(utc(2026, 6, 30, 23, 30), date(2026, 7, 1), id="summer-exact"),
        pytest.param(utc(2026, 6, 30, 22, 59), date(2026, 6, 30), id="summer-before-midnight"),
        pytest.param(datetime(2026, 7, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),
                     date(2026, 6, 30), id="other-offset-converted-to-utc-first"),
    ],
)
def test_latest_london_date(now: datetime, expected: date) -> None:
    assert latest_london_date(now) == expected


@pytest.mark.parametrize(
    "instant",
    [utc(2026, 1, 15, 23, 30), utc(2026, 6, 30, 23, 30), utc(2026, 3, 29, 0, 30),
     utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)],
)
def test_latest_london_date_is_never_before_the_london_date(instant: datetime) -> None:
    assert latest_london_date(instant) >= london_date(instant)

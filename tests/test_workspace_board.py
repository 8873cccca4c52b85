"""The Board's report worked out from cases' state: the reporting year, working days taken,
counts by period, and charts that quote nothing but the table's own labels."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from domain.calendar import WorkingDayCalendar
from domain.case import CaseState, Completion, Outcome
from domain.notification import Notification
from domain.procedure import CURRENT_PROCEDURE, Clock, Step
from web.board import Table, bar_chart, report, reporting_year, working_days_between

CAL = WorkingDayCalendar()


def case(case_id: str, received: datetime, reference: str) -> CaseState:
    notification = Notification.model_validate({
        "received_at": received, "notifying_agency": "Humberside Police",
        "incident": {"date": received.date(), "harm": "serious_harm",
                     "abuse_or_neglect": "suspected"},
        "children": [{"reference": reference}]})
    return CaseState.open_case(case_id, CURRENT_PROCEDURE, notification)


def test_the_reporting_year_runs_april_to_march() -> None:
    assert reporting_year(date(2026, 12, 4)) == (date(2026, 4, 1), date(2027, 3, 31))
    assert reporting_year(date(2027, 3, 31)) == (date(2026, 4, 1), date(2027, 3, 31))
    assert reporting_year(date(2027, 4, 1)) == (date(2027, 4, 1), date(2028, 3, 31))


def test_working_days_skip_weekends_and_bank_holidays() -> None:
    # Thursday 24 December 2026 to Tuesday 29th: Christmas Day and the Boxing Day substitute
    # (Monday 28th) are bank holidays.
    assert working_days_between(CAL, date(2026, 12, 24), date(2026, 12, 29)) == 1
    assert working_days_between(CAL, date(2026, 12, 1), date(2026, 12, 1)) == 0


def test_counts_outcomes_timeliness_and_open_reviews_without_the_child() -> None:
    inside = case("CSPR-2026-0001", datetime(2026, 11, 2, 9, tzinfo=UTC), "NL-SECRET1")
    inside.clock_dates[Clock.RECEIVED] = date(2026, 11, 2)
    informed = inside.step(Step.INFORM_PARTNERS)
    informed.deadlines[0].due_date = date(2026, 11, 3)
    informed.completion = Completion(completed_on=date(2026, 11, 3),
                                     completed_at=datetime(2026, 11, 3, 10, tzinfo=UTC))
    closed = case("CSPR-2026-0002", datetime(2026, 10, 1, 9, tzinfo=UTC), "NL-SECRET2")
    closed.outcome, closed.stage = Outcome.NO_FURTHER_REVIEW, closed.stage.CLOSED
    earlier = case("CSPR-2025-0009", datetime(2026, 3, 1, 9, tzinfo=UTC), "NL-SECRET3")
    tables = {t.name: t for t in report([inside, closed, earlier], date(2026, 4, 1),
                                        date(2027, 3, 31), date(2026, 12, 4), CAL)}
    assert tables["notifications"].rows[0] == ("Notifications of serious incidents", 2)
    outcomes = {row[0]: row[1] for row in tables["outcomes"].rows}
    assert outcomes["No further review"] == 1
    assert outcomes["Not decided yet"] == 1
    assert tables["timeliness"].rows == [("Inform the partners", 100, "Local", 1, 1)]
    open_ids = [r[0] for r in tables["open_reviews"].rows]
    assert open_ids == ["CSPR-2025-0009", "CSPR-2026-0001"]  # open, whenever received
    text = repr([t.rows for t in tables.values()])
    assert "SECRET" not in text


def test_a_chart_escapes_its_labels_and_scales_its_bars() -> None:
    chart = bar_chart(Table("t", "Title", ("What", "Number"), [("<b>", 2), ("b", 1)]))
    assert "<b>" not in chart
    assert "&lt;b&gt;" in chart
    assert 'width="570"' in chart
    assert 'width="285"' in chart
    assert 'role="img"' in chart


def test_a_chart_label_is_never_cut_short_nor_drawn_off_the_chart() -> None:
    """Labels stand above their bars from the left edge, whole; a long one is broken between
    words onto lines of its own (a label drawn right-aligned before its bar was clipped)."""
    long = ("Not published yet, past six months, with a very long explanation of why it "
            "is late")
    chart = str(bar_chart(Table("t", "Title", ("What", "Number"), [(long, 3), ("b", 1)])))
    texts = re.findall(r"<tspan[^>]*>([^<]*)</tspan>", chart)
    assert " ".join(texts[:-1]) == long
    assert all(len(t) <= 52 for t in texts)
    assert len(texts) == 3  # two lines for the long label, one for "b"
    assert 'text-anchor="end"' not in chart
    assert all(x == "0" for x in re.findall(r'<tspan x="(\d+)"', chart))
    height = int(re.search(r'height="(\d+)" viewBox', chart).group(1))  # type: ignore[union-attr]
    ys = [int(y) for y in re.findall(r'<rect x="0" y="(\d+)"', chart)]
    assert max(ys) + 20 <= height

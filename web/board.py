"""The Board's report for a period: notifications, outcomes, timeliness against each target,
reviews open and their age, differences of opinion by the level reached. Counts and case ids
only: nothing here names or describes a child. Pure functions of the cases' state."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

from domain.action_plan import ActionPlanState, ActionStatus
from domain.calendar import WorkingDayCalendar, add_calendar_months, london_date
from domain.case import CaseState, Completion, Outcome, StepState, StepStatus
from domain.differences import LADDER
from domain.local_review import LocalReviewState
from domain.procedure import CURRENT_PROCEDURE
from domain.reviews import ReviewKind
from web.forms import words


def reporting_year(today: date) -> tuple[date, date]:
    """The Board's reporting year around `today`: 1 April to 31 March, as partnerships'
    yearly reports run."""
    start = date(today.year if today.month >= 4 else today.year - 1, 4, 1)
    return start, date(start.year + 1, 3, 31)


@dataclass(frozen=True)
class Table:
    """One table of the report, shown as a table and a chart and given as CSV."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str | int | float, ...]]
    chart_column: int | None = 1  # the column the chart draws, by the first column's labels


def working_days_between(calendar: WorkingDayCalendar, start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 if done the same day)."""
    days, day = 0, start
    while day < end:
        day += timedelta(days=1)
        days += calendar.is_working_day(day)
    return days


def _done_on(c: Completion) -> date:
    return c.completed_on or london_date(c.completed_at)


def _taken(case: CaseState, state: StepState, calendar: WorkingDayCalendar) -> int | None:
    """Working days from the step's clock to its completion (the last party's, for a step
    each records)."""
    if state.completion is None or not state.deadlines:
        return None
    started = case.clock_dates.get(state.deadlines[0].clock)
    if started is None:
        return None
    done = max(_done_on(c) for c in (state.parts or [state.completion]))
    return working_days_between(calendar, started, done)


def report(cases: Sequence[CaseState], start: date, end: date, today: date,
           calendar: WorkingDayCalendar, reviews: Sequence[LocalReviewState] = (),
           plans: Sequence[ActionPlanState] = ()) -> list[Table]:
    """The report's tables for the cases received from `start` to `end` (and their LCSPRs
    and action plans)."""
    received = [c for c in cases if start <= london_date(c.received_at) <= end]
    ids = {c.case_id for c in received}
    kinds = Counter(c.kind for c in received)
    tables = [Table("notifications", "Received", ("What", "Number"), [
        ("Notifications of serious incidents", kinds[ReviewKind.SERIOUS_INCIDENT]),
        ("Requests for a review", kinds[ReviewKind.REQUEST])])]

    outcomes = Counter(c.outcome for c in received)
    tables.append(Table("outcomes", "Outcomes", ("Outcome", "Cases"), [
        *((words(o.value), outcomes[o]) for o in Outcome),
        ("Not decided yet", outcomes[None])]))

    rows: list[tuple[str | int | float, ...]] = []
    for spec in CURRENT_PROCEDURE.steps:
        done = [(c, s) for c in received if c.has_step(spec.step)
                and (s := c.step(spec.step)).status in (StepStatus.DONE, StepStatus.DONE_LATE)]
        if not done:
            continue
        on_time = sum(s.status is StepStatus.DONE for _, s in done)
        taken = [t for c, s in done if (t := _taken(c, s, calendar)) is not None]
        rows.append((spec.title, round(100 * on_time / len(done)),
                     "Statutory" if spec.statutory else "Local", len(done),
                     statistics.median(taken) if taken else ""))
    tables.append(Table("timeliness", "Timeliness against each target",
                        ("Step", "On time (%)", "Target", "Recorded", "Median working days"),
                        rows))

    open_cases = sorted((c for c in cases if not c.closed), key=lambda c: c.received_at)
    tables.append(Table("open_reviews", "Reviews open and their age",
                        ("Case", "Age (days)", "Stage"),
                        [(c.case_id, (today - london_date(c.received_at)).days,
                          words(c.stage.value)) for c in open_cases], chart_column=None))

    tables.extend(_lcsprs([r for r in reviews if r.case_id in ids], today))
    actions = Counter(("overdue" if a.overdue else a.status.value)
                      for p in plans if p.case_id in ids for a in p.actions)
    tables.append(Table("actions", "Action plans: actions", ("Actions", "Number"), [
        ("Open, on time", actions["open"]), ("Open, overdue", actions["overdue"]),
        ("Completed", actions[ActionStatus.COMPLETED.value]),
        ("Closed without completion", actions[ActionStatus.CLOSED.value])]))

    reached = Counter(d.level for c in received for d in c.differences.items)
    tables.append(Table("differences", "Differences of opinion by the level reached",
                        ("Level reached", "Differences"),
                        [(words(level.value), reached[level]) for level in LADDER]))
    return tables


def _lcsprs(reviews: Sequence[LocalReviewState], today: date) -> list[Table]:
    """Published within six months of the decision to undertake them (clock L), or later;
    those not published yet; and the delayed ones with the other processes that delayed them
    (the kinds only: a delay's own words may describe the case)."""
    counts: Counter[str] = Counter()
    delayed: list[tuple[str | int | float, ...]] = []
    for r in reviews:
        if r.clock_l is None:
            continue
        by = add_calendar_months(r.clock_l, 6)
        if r.published_on is not None:
            counts["within" if r.published_on <= by else "later"] += 1
        else:
            counts["open, within" if today <= by else "open, past"] += 1
        if r.expected_publication is not None and r.expected_publication > by:
            delayed.append((r.case_id, f"{r.expected_publication:%-d %B %Y}",
                            ", ".join(words(k.value) for k in r.publication_delayed_because_of)
                            or "Not given"))
    return [
        Table("lcsprs", "LCSPRs and the six months to publication", ("LCSPRs", "Number"), [
            ("Published within six months", counts["within"]),
            ("Published after six months", counts["later"]),
            ("Not published yet, within six months", counts["open, within"]),
            ("Not published yet, past six months", counts["open, past"])]),
        Table("lcspr_delays", "LCSPRs delayed beyond six months",
              ("Case", "Expected publication", "Delayed by"), delayed, chart_column=None),
    ]


def csv_rows(table: Table) -> Iterable[Sequence[str | int | float]]:
    yield table.columns
    yield from table.rows


CHART_WIDTH = 640
_LINE = 26  # a label's line, at the body's 19px
_BAR = 20
_WRAP = 52  # characters on a label's line (GDS Transport at 19px: about 10px each)


def _lines(label: str) -> list[str]:
    """A label on as many lines as it needs, broken between words: never cut short."""
    lines: list[str] = []
    for word in label.split():
        if lines and len(lines[-1]) + 1 + len(word) <= _WRAP:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


def bar_chart(table: Table) -> Markup:
    """A horizontal bar chart of the table's chart column, as SVG drawn here on the server;
    described for screen readers by its title (the table beside it has the numbers). Each
    label stands above its bar from the left edge, whole (broken into lines when long), so
    none is clipped; the chart scales down with the page."""
    column = table.chart_column
    if column is None or not table.rows:
        return Markup("")
    values = [(str(r[0]), float(r[column]) if isinstance(r[column], int | float) else 0.0)
              for r in table.rows]
    top = max((v for _, v in values), default=0) or 1
    bar_w = CHART_WIDTH - 70  # room for the value after the longest bar
    body: list[str] = []
    y = 0
    for label, value in values:
        lines = _lines(label)
        text = "".join(f'<tspan x="0" dy="{0 if i == 0 else _LINE}">{escape(line)}</tspan>'
                       for i, line in enumerate(lines))
        body.append(f'<text x="0" y="{y + 19}">{text}</text>')
        y += _LINE * len(lines)
        width = round(bar_w * value / top)
        body.append(f'<rect x="0" y="{y}" width="{width}" height="{_BAR}" fill="#1d70b8">'
                    f'</rect><text x="{width + 8}" y="{y + 17}">{value:g}</text>')
        y += _BAR + 14
    height = y
    return Markup(
        f'<svg class="cspr-chart" role="img" aria-labelledby="chart-{table.name}" '
        f'width="{CHART_WIDTH}" height="{height}" viewBox="0 0 {CHART_WIDTH} {height}">'
        f'<title id="chart-{table.name}">{escape(table.title)}: '
        f'{escape(table.columns[column])} by {escape(table.columns[0]).lower()}</title>'
        + "".join(body) + "</svg>")

"""The Board's report: a period's counts and timeliness as tables with SVG charts, each table
as CSV. Counts and case ids only: nothing identifies a child."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import Sessions
from api.errors import store_errors
from domain.action_plan import ActionPlanState
from domain.calendar import WorkingDayCalendar, london_date, london_instant
from domain.case import CaseState
from domain.local_review import LocalReviewState
from domain.permissions import can_read_case
from store import calendar as calendar_store
from store import workspace as workspace_store
from web import session
from web.board import Table, bar_chart, csv_rows, report, reporting_year
from web.dates import DateAnswer, read_date
from web.pages import render
from web.routes.work import readable
from workflows.action_plan import PART as PLAN_PART
from workflows.local_review import PART as REVIEW_PART

router = APIRouter(include_in_schema=False)
SignedIn = Annotated[session.Person, Depends(session.signed_in)]
_FIRST, _LAST = date(2000, 1, 1), date(2199, 12, 31)
Day = Annotated[date | None, Query(ge=_FIRST, le=_LAST)]


def _today() -> date:
    return london_date(datetime.now(UTC))


async def _tables(sessions: Sessions, start: date, end: date, partnership: str
                  ) -> list[Table]:
    """The report's tables for the period, of the person's partnership's cases only."""
    async with store_errors(), sessions() as s:
        # The period's cases and those open (indexed): not every case the store ever held.
        snapshots, parts = await workspace_store.report_snapshots(
            s, london_instant(start), london_instant(end + timedelta(days=1)), partnership)
        # Working days as the service counts them: with the operators' bank holidays.
        calendar = await calendar_store.effective_calendar(s, WorkingDayCalendar())
    cases = readable(CaseState, snapshots)
    reviews = readable(LocalReviewState, [(c, x) for p, c, x in parts if p == REVIEW_PART])
    plans = readable(ActionPlanState, [(c, x) for p, c, x in parts if p == PLAN_PART])
    return report(cases, start, end, _today(), calendar, reviews, plans)


def _period(start: date | None, end: date | None) -> tuple[date, date]:
    default_start, default_end = reporting_year(_today())
    return start or default_start, end or default_end


def _answer(value: date) -> DateAnswer:
    return DateAnswer(given={"day": str(value.day), "month": str(value.month),
                             "year": str(value.year)}, value=value)


@router.get("/board", response_class=HTMLResponse)
async def board_page(request: Request, person: SignedIn, sessions: Sessions,
                     start: Annotated[Day, Query(alias="from")] = None, to: Day = None
                     ) -> Response:
    """The report for a period: asked for with GOV.UK's date inputs (from-day, from-month,
    from-year; to-...), or as ?from=YYYY-MM-DD&to=... (the CSV links); the reporting year by
    default. A date not given whole, or not real, is refused by its field."""
    if not can_read_case(person.role_enum):
        return render(request, "error.html", person, 403, title="You cannot see this page",
                      message="This role cannot read the Board's report.")
    first, last = _period(start, to)
    asked = request.query_params
    typed = any(f"{which}-{part}" in asked for which in ("from", "to")
                for part in ("day", "month", "year"))
    answers = {"from": _answer(first), "to": _answer(last)}
    errors: dict[str, str] = {}
    if typed:
        for which, what in (("from", "the start of the period"),
                            ("to", "the end of the period")):
            answers[which] = read_date(asked, which, what, first=_FIRST, last=_LAST)
            if answers[which].error:
                errors[which] = answers[which].error or ""
        first = answers["from"].value or first
        last = answers["to"].value or last
    if not errors and last < first:
        errors["to"] = "The end of the period must be the same as or after the start"
        answers["to"].error, answers["to"].wrong = errors["to"], ()
    status = 200
    if errors:
        status = 422
        first, last = _period(None, None)  # the default period shown under the errors
    tables = await _tables(sessions, first, last, person.partnership)
    summary = [{"text": reason, "href": f"#{which}-{(answers[which].wrong or ('day',))[0]}"}
               for which, reason in errors.items()]
    return render(request, "board.html", person, status, title="The Board's report",
                  tables=tables, charts={t.name: bar_chart(t) for t in tables},
                  start=first, end=last, answers=answers, field_errors=errors,
                  errors=summary)


@router.get("/board/{name}.csv")
async def board_csv(name: str, person: SignedIn, sessions: Sessions,
                    start: Annotated[Day, Query(alias="from")] = None, to: Day = None
                    ) -> Response:
    if not can_read_case(person.role_enum):
        return Response("this role cannot read the Board's report", status_code=403)
    first, last = _period(start, to)
    found = [t for t in await _tables(sessions, first, last, person.partnership)
             if t.name == name]
    if not found:
        return Response("no such table", status_code=404)
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(found[0]))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="cspr-{name}-{first}-to-{last}.csv"'})

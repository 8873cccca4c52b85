"""The Board's report's period, asked for with GOV.UK's date inputs (issue 10): filled with
the reporting year by default, a date not given whole or not real refused by its field (in the
error summary too, linking to the box at fault), an end before the start refused; the period
chosen counts the cases received in it. Through the real app (ASGI) and case store."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient

from domain.calendar import london_date
from tests.test_workspace_forms import browser_of, new_case, page_errors  # noqa: F401
from web.board import reporting_year


def period(**parts: str) -> dict[str, str]:
    return {key.replace("_", "-"): value for key, value in parts.items()}


def received(text: str) -> int:
    found = re.search(r"<th[^>]*>Notifications of serious incidents</th>\s*"
                      r"<td[^>]*>(\d+)</td>", text)
    assert found is not None
    return int(found.group(1))


async def test_the_period_by_govuk_date_inputs(
    api: AsyncClient, browser_of: Any,  # noqa: F811
) -> None:
    case_id = await new_case(api)
    mars, _ = browser_of("mars_team")
    start, end = reporting_year(london_date(datetime.now(UTC)))

    default = await mars.get("/board")
    assert default.status_code == 200
    assert re.search(rf'name="from-year"[^>]*value="{start.year}"', default.text)
    assert 'type="date"' not in default.text
    assert received(default.text) >= 1
    assert case_id in default.text

    chosen = await mars.get("/board", params=period(
        from_day=str(start.day), from_month=str(start.month), from_year=str(start.year),
        to_day=str(end.day), to_month=str(end.month), to_year=str(end.year)))
    assert chosen.status_code == 200
    assert f"Cases received from {start:%-d %B %Y} to {end:%-d %B %Y}" in chosen.text
    assert received(chosen.text) == received(default.text)
    before = await mars.get("/board", params=period(
        from_day="1", from_month="4", from_year="2001", to_day="31", to_month="3",
        to_year="2002"))
    assert before.status_code == 200
    assert received(before.text) == 0
    assert "1 April 2001 to 31 March 2002" in before.text

    partial = await mars.get("/board", params=period(
        from_day="1", from_month="", from_year="2026", to_day="31", to_month="3",
        to_year="2027"))
    assert partial.status_code == 422
    assert page_errors(partial.text) == {"from": "The start of the period must include a month"}
    assert 'href="#from-month"' in partial.text
    assert 'class="govuk-error-summary' in partial.text
    unreal = await mars.get("/board", params=period(
        from_day="1", from_month="4", from_year="2026", to_day="31", to_month="2",
        to_year="2027"))
    assert page_errors(unreal.text) == {"to": "The end of the period must be a real date"}
    backwards = await mars.get("/board", params=period(
        from_day="1", from_month="4", from_year="2027", to_day="31", to_month="3",
        to_year="2027"))
    assert backwards.status_code == 422
    assert page_errors(backwards.text) == {
        "to": "The end of the period must be the same as or after the start"}
    # What was typed stays in the boxes.
    assert re.search(r'name="from-year"[^>]*value="2027"', backwards.text)

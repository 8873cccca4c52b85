"""A date asked for with the GOV.UK Design System's date input (day, month, year), read back
with its error messages: "Enter the …", "… must include a month", "… must be a real date",
and which of the three boxes to mark (https://design-system.service.gov.uk/components/date-input/).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

PARTS = ("day", "month", "year")


@dataclass
class DateAnswer:
    """What was typed in the three boxes, the date it makes, or why it makes none."""

    given: dict[str, str] = field(default_factory=dict)
    value: date | None = None
    error: str | None = None
    wrong: tuple[str, ...] = ()  # the boxes to mark: all three unless one or two are at fault

    def item(self, part: str) -> dict[str, Any]:
        """One box of govukDateInput's items."""
        width = "govuk-input--width-4" if part == "year" else "govuk-input--width-2"
        marked = " govuk-input--error" if self.error and part in (self.wrong or PARTS) else ""
        return {"name": part, "label": part.capitalize(), "classes": width + marked,
                "value": self.given.get(part, "")}


def read_date(form: Mapping[str, Any], prefix: str, what: str, required: bool = True,
              first: date = date(1900, 1, 1), last: date = date(2199, 12, 31)) -> DateAnswer:
    """The date in the boxes `<prefix>-day`, `-month`, `-year`; `what` names it in the errors
    ("the bank holiday's date" → "Enter the bank holiday's date")."""
    given = {p: str(form.get(f"{prefix}-{p}", "") or "").strip() for p in PARTS}
    answer = DateAnswer(given=given)
    missing = tuple(p for p in PARTS if not given[p])
    name = what[0].upper() + what[1:]
    if len(missing) == 3:
        if required:
            answer.error = f"Enter {what}"
        return answer
    if missing:
        answer.error = f"{name} must include a {' and '.join(missing)}"
        answer.wrong = missing
        return answer
    if not all(given[p].isdigit() for p in PARTS):
        answer.error = f"{name} must be a real date"
        answer.wrong = tuple(p for p in PARTS if not given[p].isdigit())
        return answer
    if len(given["year"]) != 4:
        answer.error = "Year must include 4 numbers"
        answer.wrong = ("year",)
        return answer
    try:
        value = date(int(given["year"]), int(given["month"]), int(given["day"]))
    except ValueError:
        answer.error = f"{name} must be a real date"
        return answer
    if not first <= value <= last:
        answer.error = (f"{name} must be between {first:%-d %B %Y} and {last:%-d %B %Y}")
        return answer
    answer.value = value
    return answer

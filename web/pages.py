"""Rendering the workspace's pages: Jinja2 with the GOV.UK Frontend macros
(govuk-frontend-jinja), one template per page under web/templates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader

from domain.permissions import (
    Role,
    can_notify,
    can_read_calendar_changes,
    can_read_case,
    can_read_directory,
)
from web.forms import words
from web.session import CSRF_FIELD, Person

HERE = Path(__file__).resolve().parent

_env = Environment(
    loader=ChoiceLoader([
        FileSystemLoader(HERE / "templates"),
        PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
    ]),
    autoescape=True, trim_blocks=True, lstrip_blocks=True,
)
_env.filters["words"] = words
# An event's detail that is a bare value (a stage, a partner) as words; a sentence as it is.
_env.filters["detail"] = lambda d: words(d) if re.fullmatch(r"[a-z0-9_]+", d or "") else d
_env.filters["day"] = lambda d: f"{d:%-d %B %Y}" if d else ""
_env.filters["when"] = lambda t: f"{t:%-d %b %Y %H:%M}" if t else ""
_env.filters["cspr_option"] = lambda option, chosen: {
    "value": option[0], "text": option[1], "checked": option[0] == chosen}
_env.filters["cspr_check"] = lambda option, chosen: {
    "value": option[0], "text": option[1], "checked": option[0] in chosen}
_env.filters["cspr_reviewer"] = lambda person: {
    "value": str(person.id), "text": person.name, "hint": {"text": person.email}}
templates = Jinja2Templates(env=_env)


def navigation(person: Person | None, path: str) -> list[dict[str, Any]]:
    """The service navigation: only the pages this person's role may use."""
    if person is None:
        return []
    role = Role(person.role)
    links = [("/work", "My work", True), ("/cases", "Cases", can_read_case(role)),
             ("/notifications/new", "New notification", can_notify(role)),
             ("/board", "Board report", can_read_case(role)),
             ("/calendar/bank-holidays", "Bank holidays", can_read_calendar_changes(role)),
             ("/calendar", "Calendar feed", True),
             ("/directory", "Directory", can_read_directory(role))]
    # The longest link that the path starts with is the page's (/calendar/bank-holidays is
    # not the calendar feed's).
    active = max((href for href, _, allowed in links if allowed and path.startswith(href)),
                 key=len, default=None)
    return [{"href": href, "text": text, "active": href == active}
            for href, text, allowed in links if allowed]


def render(request: Request, template: str, person: Person | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, template, {"person": person, "csrf_field": CSRF_FIELD,
                            "navigation": navigation(person, request.url.path), **context},
        status_code=status_code)

"""The workspace's forms: a step's record as GOV.UK form fields, and a posted form back as the
JSON body the API takes, so that the same model validates both and refuses with the same words.

Nothing here decides what is valid: the record types (`domain.decisions`) and the case do.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel
from starlette.datastructures import FormData

from api.errors import FieldError

LONDON = ZoneInfo("Europe/London")

# The words on the page for each field of the records (the API's names stay the names sent).
LABELS: dict[str, str] = {
    "criteria_met": "Are the serious case criteria met?",
    "recommend_panel_notification": "Do you recommend notifying the national Panel?",
    "rationale": "Rationale",
    "partner": "Partner",
    "notified_at": "When the Panel was notified",
    "reference": "Reference",
    "agencies": "Agencies asked for a report",
    "agency": "Agency",
    "recommendations": "Recommendations",
    "outcome": "Outcome of the rapid review",
    "relevant": "Are wellbeing sessions relevant in this case?",
    "decision": "The Panel's decision",
    "notes": "Notes",
    "sent_at": "When it was sent",
    "method": "How it was sent",
    "areas": "Areas the Home Office contributes to",
    "completed_on": "Date it was done, if not today",
}
HINTS: dict[str, str] = {
    "agencies": "One agency on each line",
    "recommendations": "One recommendation on each line",
    "completed_on": "For a late entry. For example, 27 11 2026",
    "notified_at": "UK time",
    "sent_at": "UK time",
}
_LONG_TEXT = {"rationale", "notes", "summary"}


# Names the procedure writes in capitals.
_CAPITALS = {"mars": "MARS", "ssl": "SSL", "ssls": "SSLs", "dsp": "DSP", "dsps": "DSPs",
             "api": "API", "lcspr": "LCSPR", "cspr": "CSPR", "doc": "Doc", "ofsted": "Ofsted"}


def words(value: str) -> str:
    """An enum value as words: `local_authority` -> `Local authority`, `mars_team` -> `MARS
    team`."""
    text = value.replace("_", " ").capitalize()
    text = " ".join(_CAPITALS.get(w.lower(), w) for w in text.split(" "))
    return re.sub(r"\bDoc(\d+)", r"Doc \1", text)  # doc2 -> Doc 2


@dataclass
class Field:
    """One question of a form, as the page shows it."""

    name: str
    label: str
    kind: str  # radios, checkboxes, text, textarea, lines, datetime, date
    required: bool
    hint: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.name.replace(".", "-")


def _unwrap(annotation: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` as X."""
    if get_origin(annotation) is Annotated:
        return _unwrap(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        return _unwrap(inner[0]) if len(inner) == 1 else annotation
    return annotation


def _long(info: Any) -> bool:
    """A free text longer than a name: a rationale, a summary (max_length over 200)."""
    limits = [getattr(m, "max_length", None) for m in info.metadata]
    return any(limit is not None and limit > 200 for limit in limits)


def fields_of(model: type[BaseModel], skip: tuple[str, ...] = ("step",),
              prefix: str = "") -> list[Field]:
    """The form's questions, in the record's order, `completed_on` last. A field that is a
    record of its own (the final report's equality analysis) is its questions, each named
    `equality_analysis.race`: the API's field names, as its refusals name them."""
    found = []
    for key, info in model.model_fields.items():
        if key in skip:
            continue
        name = f"{prefix}{key}"
        ann = _unwrap(info.annotation)
        # "x-required": optional only so that records made before it was asked can be read.
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        label, hint, required = LABELS.get(key, words(key)), HINTS.get(key, ""), \
            info.is_required() or bool(extra.get("x-required"))
        if prefix:
            label = f"{words(prefix.rstrip('.').rpartition('.')[2])}: {label.lower()}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            found.extend(fields_of(ann, (), f"{name}."))
        elif get_origin(ann) is Literal:
            found.append(Field(name, label, "radios", required, hint,
                               [(str(v), words(str(v))) for v in get_args(ann)]))
        elif ann is bool:
            found.append(Field(name, label, "radios", required, hint,
                               [("true", "Yes"), ("false", "No")]))
        elif isinstance(ann, type) and issubclass(ann, Enum):
            found.append(Field(name, label, "radios", required, hint,
                               [(str(e.value), words(str(e.value))) for e in ann]))
        elif get_origin(ann) is list:
            inner = _unwrap(get_args(ann)[0])
            if isinstance(inner, type) and issubclass(inner, Enum):
                found.append(Field(name, label, "checkboxes", required, hint,
                                   [(str(e.value), words(str(e.value))) for e in inner]))
            else:
                found.append(Field(name, label, "lines", required, hint))
        elif ann in (AwareDatetime, datetime):
            found.append(Field(name, label, "datetime", required, hint))
        elif ann is date:
            found.append(Field(name, label, "date", required, hint))
        else:
            long = key in _LONG_TEXT or _long(info)
            found.append(Field(name, label, "textarea" if long else "text", required, hint))
    found.sort(key=lambda f: f.name == "completed_on")
    return found


def _datetime(value: str) -> str:
    """A datetime-local input's value (UK time) as an ISO instant; as it is if not one."""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=LONDON).isoformat()
    except ValueError:
        return value


def _put(body: dict[str, Any], name: str, value: Any) -> None:
    """Set `incident.date` or `children.0.reference` in a nested body."""
    *path, last = name.split(".")
    here: Any = body
    for key, after in zip(path, [*path[1:], last], strict=False):
        if isinstance(here, list):
            while len(here) <= int(key):
                here.append({})
            here = here[int(key)]
        else:
            here = here.setdefault(key, [] if after.isdigit() else {})
    if isinstance(here, list):
        here.append(value)
    else:
        here[last] = value


def body_of(fields: list[Field], form: FormData) -> dict[str, Any]:
    """The JSON body the API would take for these answers; what is left empty is left out.
    A dotted name (`incident.date`) is a field of a nested object."""
    body: dict[str, Any] = {}
    for f in fields:
        value = _answer(f, form)
        if value is not None:
            _put(body, f.name, value)
    return body


def _answer(f: Field, form: FormData) -> Any:
    if f.kind == "checkboxes":
        chosen = [str(v) for v in form.getlist(f.id)]
        return chosen if chosen or f.required else None
    if f.kind == "date":
        parts = [str(form.get(f"{f.id}-{p}", "")).strip() for p in ("year", "month", "day")]
        if not any(parts):
            return None
        y, m, d = parts
        return f"{y.zfill(4)}-{m.zfill(2)}-{d.zfill(2)}"
    value = str(form.get(f.id, "")).strip()
    if not value:
        return None
    if f.kind == "radios" and f.options[0][0] == "true":
        return value == "true" if value in ("true", "false") else value
    if f.kind == "lines":
        return [line.strip() for line in value.splitlines() if line.strip()]
    if f.kind == "datetime":
        return _datetime(value)
    return value


def errors_by_field(errors: list[FieldError], ids: set[str]) -> dict[str, str]:
    """Each error under the form's field it names (`recommendations.0` under recommendations);
    one the form has no field for stays in the summary only, under ``."""
    found: dict[str, str] = {}
    for e in errors:
        name = e.field.replace(".", "-")
        while name and name not in ids:
            name = name.rpartition("-")[0]
        found.setdefault(name, e.reason)
    return found

"""What free text may hold, so that one character cannot break a case.

PostgreSQL cannot store NUL in text, and a lone surrogate (from a JSON `\\ud800`) cannot be
encoded at all: either makes the case store's write fail for ever and freezes the case. The
other C0 control characters have no place in a letter, an e-mail or a record. Allowed: tab and
line feed; a carriage return only as part of CR LF (what a browser's text area sends). A name
in the partner directory (it may end up in an e-mail header) allows no control character.

New input is checked where it enters, once: the API checks every request (api/text_check.py);
a message sent to Temporal directly is checked by each update validator
(`domain.case.refuse_control_characters`) and signal handler (patch "signal-text").
Text already in a case (its history, its stored copy) is never judged again: an older case
keeps replaying and reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

_REFUSED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]|\r(?!\n)")
_REFUSED_IN_A_LINE = re.compile(r"[\x00-\x1f\ud800-\udfff]")
REASON = "contains {what} (U+{code:04X}); only tab and line breaks are allowed in text"


def text_refusal(value: str) -> str | None:
    """Why this text is refused, or None."""
    found = _REFUSED.search(value)
    if found is None:
        return None
    char = found.group()
    what = "a lone surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    return REASON.format(what=what, code=ord(char))


def control_character(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first text in `value` (a str, or JSON-like lists, dicts and models of them) that
    holds a refused character: (its field, dotted as pydantic names it; the reason)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, BaseModel):
            item = dict(item)
        if isinstance(item, str):
            if (reason := text_refusal(item)) is not None:
                return where or "body", reason
        elif isinstance(item, dict):
            for key, inner in reversed(list(item.items())):
                name = str(key)
                if text_refusal(name) is not None:
                    return where or "body", "a field's name contains a control character"
                stack.append((inner, f"{where}.{name}" if where else name))
        elif isinstance(item, list | tuple):
            stack += [(inner, f"{where}.{i}" if where else str(i))
                      for i, inner in reversed(list(enumerate(item)))]
    return None


def clean_line(value: str) -> str:
    """A name of the directory: one line, no control character at all."""
    found = _REFUSED_IN_A_LINE.search(value)
    if found is not None:
        if found.group() in "\t\n\r":
            raise ValueError("must be a single line (no tab or line break)")
        raise ValueError(text_refusal(found.group()) or "contains a control character")
    return value


@dataclass(frozen=True)
class Documented:
    """Shows in the JSON schema (`x-text`) what text a field takes; the tests find every
    request's text field by it."""

    kind: str

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        found = handler(schema)
        found["x-text"] = self.kind
        return found


MULTI_LINE = Documented("no control character but tab and line breaks")
ONE_LINE = Documented("one line: no control character")


@dataclass(frozen=True)
class Erasable:
    """Marks a workflow state's text that came from a person's free text (a record's `Text`,
    held as a plain `str` so a state already carried is never judged again): the retention
    schedule erases it with the case record (domain/retention.py)."""


ERASABLE = Erasable()
# Free text kept in a workflow's state: no constraint, erased with the case record.
StateText = Annotated[str, ERASABLE]

"""What free text may hold: every text field of every request and message takes it through
here, so that one character cannot break a case.

PostgreSQL cannot store NUL in text, and a lone surrogate (from a JSON `\\ud800`) cannot be
encoded at all: either would make the case store's write fail for ever and freeze the case.
The other C0 control characters have no place in a letter, an e-mail or a record. Allowed:
tab and line feed in multi-line text; a carriage return only as part of CR LF (what a browser's
text area sends), kept as a line feed. A single-line name allows none of them (a line break in a
name could end up in an e-mail header).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

_REFUSED = re.compile(r"[\x00-\x08\x0b-\x1f\ud800-\udfff]")
_REFUSED_IN_A_LINE = re.compile(r"[\x00-\x1f\ud800-\udfff]")


def _refuse(found: re.Match[str] | None) -> None:
    if found is not None:
        char = found.group()
        what = "a lone surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
        raise ValueError(f"contains {what} (U+{ord(char):04X}); "
                         "only tab and line breaks are allowed in text")


def clean_text(value: str) -> str:
    """Multi-line text: CR LF kept as LF; any other control character refused."""
    value = value.replace("\r\n", "\n")
    _refuse(_REFUSED.search(value))
    return value


def clean_line(value: str) -> str:
    """A name or code: no control character at all."""
    found = _REFUSED_IN_A_LINE.search(value)
    if found is not None and found.group() in "\t\n\r":
        raise ValueError("must be a single line (no tab or line break)")
    _refuse(found)
    return value


@dataclass(frozen=True)
class _Clean:
    """Annotates a str: checked by `check`, and shown in the JSON schema (`x-text`), where
    the tests find every request's text field."""

    check: Callable[[str], str]
    kind: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        found = handler(schema)
        found["x-text"] = self.kind
        return found


CleanText = _Clean(clean_text, "multi-line: no control character but tab and line feed")
CleanLine = _Clean(clean_line, "single line: no control character")
PlainText = Annotated[str, CleanText]
PlainLine = Annotated[str, CleanLine]

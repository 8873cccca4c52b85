"""The letter template format, and its rendering to a Word document.

A template is a text file, read line by line (letters/README.md has the whole format):

    # Heading 1 / ## Heading 2 / ### Heading 3
    | a table row | with cells |     consecutive rows make one table
    - a bulleted item
    plain lines                      consecutive lines make one paragraph (a trailing \\ breaks)
    (blank line)                     ends a paragraph, a table or a list
    // a comment
    @each NAME ... @end              repeat for each item; its fields are {NAME.field}
    @if NAME / @if not NAME ... @end include when the flag NAME is true (false)

Text may hold {placeholders} and **bold** parts. Values are inserted as plain text, so nothing
from a case can change a letter's structure or formatting. A placeholder, flag or list the
values do not hold is a `TemplateError`: a letter is never sent with a gap nobody meant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from docx.document import Document
from docx.enum.text import WD_BREAK
from docx.text.paragraph import Paragraph

Value = str | bool | Sequence[Mapping[str, str]]
Values = Mapping[str, Value]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADING = re.compile(r"(#{1,3}) (.*)")
# Characters XML 1.0 cannot hold (a control character pasted into a summary would otherwise
# fail the whole document): dropped from values.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class TemplateError(Exception):
    """A template is malformed, or needs a value it was not given."""

    def __init__(self, template: str, line: int, reason: str) -> None:
        super().__init__(f"{template}, line {line}: {reason}")
        self.template = template
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class _Line:
    number: int
    text: str


@dataclass
class _Block:
    """An @each or @if block, or the whole template (`kind` "root")."""

    kind: str
    name: str
    number: int
    negated: bool = False
    body: list[_Line | _Block] = field(default_factory=list)


@dataclass(frozen=True)
class Template:
    """A parsed template: render it with `render`."""

    name: str
    root: _Block

    @classmethod
    def parse(cls, name: str, text: str) -> Template:
        """Parse `text`; TemplateError names the line of an unbalanced block or a stray brace."""
        root = _Block("root", "", 0)
        stack = [root]
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.rstrip()
            stripped = line.strip()
            if stripped.startswith("//"):
                continue
            if stripped.startswith("@"):
                stack = _directive(name, number, stripped, stack)
                continue
            leftover = _PLACEHOLDER.sub("", line)
            if "{" in leftover or "}" in leftover:
                raise TemplateError(name, number, "a brace that is not a {placeholder}")
            if line.count("**") % 2:
                raise TemplateError(name, number, "a ** without its closing **")
            stack[-1].body.append(_Line(number, line))
        if len(stack) > 1:
            raise TemplateError(name, stack[-1].number, f"@{stack[-1].kind} has no @end")
        return cls(name, root)

    def placeholders(self) -> set[str]:
        """Every placeholder, flag and list the template names."""
        found: set[str] = set()

        def walk(block: _Block) -> None:
            if block.kind != "root":
                found.add(block.name)
            for item in block.body:
                if isinstance(item, _Block):
                    walk(item)
                else:
                    found.update(_PLACEHOLDER.findall(item.text))

        walk(self.root)
        return found

    def render(self, document: Document, values: Values) -> None:
        """Append the template, filled from `values`, to `document`."""
        lines = list(self._expand(self.root, values))
        _write(document, self.name, lines)

    def _expand(self, block: _Block, values: Values) -> Iterator[tuple[_Line, Values]]:
        for item in block.body:
            if isinstance(item, _Line):
                yield item, values
            elif item.kind == "if":
                flag = values.get(item.name)
                if not isinstance(flag, bool):
                    raise TemplateError(self.name, item.number, f"no flag {item.name!r}")
                if flag != item.negated:
                    yield from self._expand(item, values)
            else:
                rows = values.get(item.name)
                if isinstance(rows, str | bool) or rows is None:
                    raise TemplateError(self.name, item.number, f"no list {item.name!r}")
                for row in rows:
                    scoped = {f"{item.name}.{k}": v for k, v in row.items()}
                    yield from self._expand(item, {**values, **scoped})


def _directive(name: str, number: int, text: str, stack: list[_Block]) -> list[_Block]:
    words = text[1:].split()
    match words:
        case ["end"] if len(stack) > 1:
            return stack[:-1]
        case ["each", list_name] if _NAME.fullmatch(list_name):
            block = _Block("each", list_name, number)
        case ["if", flag] if _NAME.fullmatch(flag):
            block = _Block("if", flag, number)
        case ["if", "not", flag] if _NAME.fullmatch(flag):
            block = _Block("if", flag, number, negated=True)
        case _:
            raise TemplateError(name, number, f"not a directive: {text}")
    stack[-1].body.append(block)
    return [*stack, block]


def _write(document: Document, name: str, lines: list[tuple[_Line, Values]]) -> None:
    """Group the expanded lines into headings, paragraphs, lists and tables, and write them."""
    paragraph: Paragraph | None = None
    table: list[tuple[_Line, Values]] = []
    for line, values in [*lines, (_Line(0, ""), {})]:
        text = line.text.strip()
        if table and not text.startswith("|"):
            _table(document, name, table)
            table = []
        if not text:
            paragraph = None
        elif text.startswith("|"):
            paragraph = None
            table.append((line, values))
        elif heading := _HEADING.fullmatch(text):
            paragraph = None
            h = document.add_heading("", level=len(heading[1]))
            _runs(h, name, line.number, heading[2], values)
        elif text.startswith("- "):
            paragraph = None
            _runs(document.add_paragraph(style="List Bullet"), name, line.number, text[2:],
                  values)
        else:
            broken = text.endswith("\\")
            if broken:
                text = text[:-1].rstrip()
            if paragraph is None:
                paragraph = document.add_paragraph()
            elif not paragraph.text.endswith("\n"):
                paragraph.add_run(" ")
            _runs(paragraph, name, line.number, text, values)
            if broken:
                paragraph.add_run().add_break(WD_BREAK.LINE)


def _table(document: Document, name: str, rows: list[tuple[_Line, Values]]) -> None:
    cells = [[c.strip() for c in line.text.strip().strip("|").split("|")] for line, _ in rows]
    table = document.add_table(rows=len(rows), cols=max(len(r) for r in cells))
    table.style = "Table Grid"
    for row, (line, values), texts in zip(table.rows, rows, cells, strict=True):
        for cell, text in zip(row.cells, texts, strict=False):
            _runs(cell.paragraphs[0], name, line.number, text, values)


def _runs(paragraph: Paragraph, name: str, number: int, text: str, values: Values) -> None:
    """Add `text` to `paragraph`: **bold** parts bold, placeholders filled as plain text."""
    for i, part in enumerate(text.split("**")):
        if part:
            run = paragraph.add_run(_fill(name, number, part, values))
            if i % 2:
                run.bold = True


def _fill(name: str, number: int, text: str, values: Values) -> str:
    def value(match: re.Match[str]) -> str:
        found = values.get(match[1])
        if not isinstance(found, str):
            raise TemplateError(name, number, f"no value for {{{match[1]}}}")
        return _NOT_XML.sub("", found)

    return _PLACEHOLDER.sub(value, text)

"""Parse the line protocol that :mod:`gateway.lineproto` writes (for the embedded SQLite store)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.store.errors import StoreError

Field = float | str | bool


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One point: ``ts`` in the writer's precision (ms)."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, Field]
    ts: int


class LineParseError(StoreError):
    """A line is not valid line protocol; ``line`` is the offending text."""

    def __init__(self, line: str, reason: str) -> None:
        super().__init__("lineparse", f"{reason} in {line[:200]!r}")
        self.line = line
        self.reason = reason


def _scan(text: str, pos: int, stops: str) -> tuple[str, int]:
    """Read until an unescaped char in ``stops``; backslash escapes only ``, = space``."""
    out: list[str] = []
    n = len(text)
    while pos < n:
        c = text[pos]
        if c == "\\" and pos + 1 < n and text[pos + 1] in ",= ":
            out.append(text[pos + 1])
            pos += 2
            continue
        if c in stops:
            break
        out.append(c)
        pos += 1
    return "".join(out), pos


def _string(text: str, pos: int, line: str) -> tuple[str, int]:
    out: list[str] = []
    n = len(text)
    while pos < n:
        c = text[pos]
        if c == "\\" and pos + 1 < n and text[pos + 1] in '"\\':
            out.append(text[pos + 1])
            pos += 2
            continue
        if c == '"':
            return "".join(out), pos + 1
        out.append(c)
        pos += 1
    raise LineParseError(line, "unbalanced quotes")


def _value(raw: str, line: str) -> Field:
    if raw in {"t", "T", "true", "True", "TRUE"}:
        return True
    if raw in {"f", "F", "false", "False", "FALSE"}:
        return False
    if raw.endswith(("i", "u")):
        raw = raw[:-1]
    try:
        number = float(raw)
    except ValueError as exc:
        raise LineParseError(line, f"invalid number {raw!r}") from exc
    if not math.isfinite(number):
        raise LineParseError(line, f"non-finite number {raw!r}")
    return number


def parse_line(line: str) -> ParsedLine:
    """Parse one point; :class:`LineParseError` says why it is not valid."""
    measurement, pos = _scan(line, 0, ", ")
    if not measurement:
        raise LineParseError(line, "missing measurement")
    tags: dict[str, str] = {}
    while pos < len(line) and line[pos] == ",":
        key, pos = _scan(line, pos + 1, "=, ")
        if pos >= len(line) or line[pos] != "=" or not key:
            raise LineParseError(line, "invalid tag format")
        value, pos = _scan(line, pos + 1, ", ")
        if not value:
            raise LineParseError(line, "empty tag value")
        tags[key] = value
    if pos >= len(line) or line[pos] != " ":
        raise LineParseError(line, "missing fields")
    fields: dict[str, Field] = {}
    pos += 1
    while True:
        key, pos = _scan(line, pos, "=, ")
        if pos >= len(line) or line[pos] != "=" or not key:
            raise LineParseError(line, "invalid field format")
        pos += 1
        if pos < len(line) and line[pos] == '"':
            fields[key], pos = _string(line, pos + 1, line)
        else:
            start = pos
            while pos < len(line) and line[pos] not in ", ":
                pos += 1
            fields[key] = _value(line[start:pos], line)
        if pos < len(line) and line[pos] == ",":
            pos += 1
            continue
        break
    rest = line[pos:].strip()
    if not rest:
        raise LineParseError(line, "missing timestamp (the writer always sets one)")
    try:
        ts = int(rest)
    except ValueError as exc:
        raise LineParseError(line, f"invalid timestamp {rest!r}") from exc
    return ParsedLine(measurement, tags, fields, ts)

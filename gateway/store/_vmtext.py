"""Text and boolean fields on VictoriaMetrics, which keeps numbers only.

VictoriaMetrics stores ``measurement,tags field=v`` as the metric ``measurement_field`` and keeps
no string (it answers one as 0). For the low-rate measurements that carry text
(:data:`TEXT_MEASUREMENTS`: the command audit trail, alert changes, sessions, events) a line's
string and boolean fields are moved off the line onto one extra point of the same tags and
timestamp, the **text marker** ``measurement__text`` (value 1), as labels:

* ``_s_<field>``: a string, percent-escaped (``%`` ``\\`` ``,`` ``=`` ``"`` space and control
  characters as ``%XX``; every other character, Chinese included, as is); ``""`` is ``%``;
* ``_b_<field>``: a boolean, ``true`` or ``false``.

The numeric fields stay on their own metrics, so a measurement's numeric series keep their tag
identity and only the marker gets a series per distinct text (never telemetry: ``port``,
``pile``, ``blocker`` and ``gateway`` lines are passed through untouched). A tag starting with
``_s_``/``_b_`` or a field named ``_text`` on a text measurement is refused, so the reserved
names cannot collide with real ones. :func:`read_label` turns a marker's labels back into fields.

A value whose escaped form exceeds VictoriaMetrics' ``-maxLabelValueLen`` (16384 bytes by
default; the server would cut it without a word) is cut here instead, ending in
:data:`CUT_MARK` and the original size, and reported in :attr:`Translated.truncated`. A line
that would exceed ``-maxLabelsPerTimeseries`` (30) is refused with :class:`TextLineError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.lineproto import FieldValue, LineProtocolError, line
from gateway.store._lineparse import LineParseError, parse_line
from gateway.store.base import Field

TEXT_MEASUREMENTS = frozenset({"command", "alert", "session", "event"})
MARKER = "_text"
STR = "_s_"
BOOL = "_b_"
CUT_MARK = "…[cut by the store: "
MAX_LABEL_VALUE_LEN = 16384
MAX_LABELS = 30
_HEADS = tuple(m + "," for m in TEXT_MEASUREMENTS)
_ESCAPED = frozenset('%\\,=" \x7f') | {chr(c) for c in range(32)}
_unescape = re.compile(r"%([0-9A-F]{2})")


class TextLineError(ValueError):
    """A text line VictoriaMetrics cannot carry; ``reason`` says why and what to change."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Translated:
    """The line(s) to send for one line, and the fields cut to fit a label."""

    text: str
    truncated: list[str] = field(default_factory=list)


def escape(value: str) -> str:
    """The label form of a string (see the module docstring)."""
    if not value:
        return "%"
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in value)


def unescape(label: str) -> str:
    """The string of a label written by :func:`escape`."""
    if label == "%":
        return ""
    return _unescape.sub(lambda m: chr(int(m.group(1), 16)), label)


def fit(value: str, limit: int) -> tuple[str, bool]:
    """``escape(value)`` cut to at most ``limit`` UTF-8 bytes, ending in the cut mark and the
    original size; whether it was cut."""
    full = escape(value)
    if len(full.encode()) <= limit:
        return full, False
    mark = escape(f"{CUT_MARK}{len(value.encode())} bytes of text, kept the first ones]")
    budget = limit - len(mark.encode())
    kept: list[str] = []
    for c in value:
        part = escape(c)
        budget -= len(part.encode())
        if budget < 0:
            break
        kept.append(part)
    return "".join(kept) + mark, True


def translate(
    text: str, max_value_len: int = MAX_LABEL_VALUE_LEN, max_labels: int = MAX_LABELS
) -> Translated:
    """The line(s) VictoriaMetrics keeps every field of; ``text`` itself for a line without
    string or boolean fields or of a measurement outside :data:`TEXT_MEASUREMENTS`."""
    if not text.startswith(_HEADS):
        return Translated(text)
    try:
        p = parse_line(text)
    except LineParseError as exc:  # refused here: passed on, its text could be stored as 0
        raise TextLineError(exc.reason) from exc
    numbers: dict[str, FieldValue] = {}
    labels: dict[str, str] = {}
    cut: list[str] = []
    for name, value in p.fields.items():
        if isinstance(value, bool):
            labels[BOOL + name] = "true" if value else "false"
        elif isinstance(value, str):
            labels[STR + name], was_cut = fit(value, max_value_len)
            if was_cut:
                cut.append(name)
        else:
            numbers[name] = value
    if not labels:
        return Translated(text)
    reserved = [t for t in p.tags if t.startswith((STR, BOOL))] + [f for f in p.fields if f == MARKER]
    if reserved:
        raise TextLineError(f"{', '.join(reserved)}: names reserved for text on VictoriaMetrics; rename")
    if 1 + len(p.tags) + len(labels) > max_labels:
        raise TextLineError(
            f"{len(p.tags)} tags + {len(labels)} text fields exceed VictoriaMetrics' "
            f"-maxLabelsPerTimeseries={max_labels}; write fewer text fields or raise the flag"
        )
    try:
        marker = line(p.measurement, {**p.tags, **labels}, {MARKER: 1.0}, p.ts)
        out = [line(p.measurement, p.tags, numbers, p.ts), marker] if numbers else [marker]
    except LineProtocolError as exc:
        raise TextLineError(str(exc)) from exc
    return Translated("\n".join(out), cut)


def read_label(name: str, value: str) -> tuple[str, Field] | None:
    """``(field, value)`` of a marker's text label, ``None`` for any other label."""
    if name.startswith(STR):
        return name.removeprefix(STR), unescape(value)
    if name.startswith(BOOL):
        return name.removeprefix(BOOL), value == "true"
    return None

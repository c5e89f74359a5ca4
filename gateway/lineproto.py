"""InfluxDB line protocol, built with plain string operations (the gateway's hot path).

Layout (see DESIGN.md "Time-series layout"): one measurement per kind — ``port``, ``pile``,
``blocker``, ``event``, ``alert``, ``session``, ``gateway``; tags only for bounded identity
(``device``, ``model``, ``port``, ``site``, and ``kind`` on events), sorted by key; ``boot``,
``seq`` and every value as fields. Numeric fields are always written as floats (``3.0``, never
``3i``), so a series never meets a field-type conflict.

Timestamps are **milliseconds** since the epoch (write with ``precision=ms``), taken from the
message's source ``ts`` by ``round(ts * 1000)``: the same message always maps to the same
point, so re-sending a batch overwrites instead of duplicating.

Escaping, as InfluxDB 1.6 actually parses it (tested in ``tests/gateway/store``):

* measurement: ``,`` and space are backslash-escaped;
* tag keys, tag values and field keys: ``,`` ``=`` and space are backslash-escaped;
* a newline or carriage return in a measurement, tag or field key is **rejected** with
  :class:`LineProtocolError`: the protocol has no escape for it (InfluxDB 1.6 stores
  ``\\<newline>`` with the backslash kept), and it must never start a second point;
* a trailing backslash in a measurement, tag or key is rejected too (it would escape the
  separator that follows);
* string field values escape ``"`` and ``\\``; a newline inside the quotes is kept as is,
  which InfluxDB 1.6 stores as one point with the newline in the value;
* NaN and ±Inf are rejected (InfluxDB answers 400 for them).

Per-port quality flags (``flags`` keys ``name[i]``) become a string field ``flags`` on that
port's point, ``name:reason`` pairs joined by ``;``; device-level flags do the same on the
``pile``/``blocker`` point. ``None`` values are omitted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Literal

import msgspec

from chargewatch.errors import ChargeWatchError
from chargewatch.messages import Event, Telemetry

FieldValue = float | int | str | bool | None
DeviceKind = Literal["pile", "blocker"]

__all__ = [
    "DeviceKind",
    "FieldValue",
    "LineProtocolError",
    "escape_key",
    "escape_measurement",
    "event_lines",
    "line",
    "telemetry_lines",
    "ts_ms",
]

_KEY_TABLE = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_MEAS_TABLE = str.maketrans({",": "\\,", " ": "\\ "})
_STR_TABLE = str.maketrans({'"': '\\"', "\\": "\\\\"})
_special = re.compile(r"[,= \\\n\r]").search
_TEMPLATES: dict[tuple[str, ...], str] = {}
_format = msgspec.json.Encoder().encode


class LineProtocolError(ChargeWatchError):
    """A name or value cannot be written as line protocol; ``what`` names the offending part."""

    def __init__(self, what: str, value: object, reason: str) -> None:
        super().__init__(f"{what} {value!r}: {reason}")
        self.what = what
        self.value = value
        self.reason = reason


def _check_name(what: str, text: str) -> None:
    if not text:
        raise LineProtocolError(what, text, "must not be empty")
    if "\n" in text or "\r" in text:
        raise LineProtocolError(what, text, "newline cannot be carried by line protocol; remove it")
    if text.endswith("\\"):
        raise LineProtocolError(what, text, "a trailing backslash would escape the separator")


def escape_key(text: str, what: str = "tag") -> str:
    """Escape a tag key, tag value or field key (``,`` ``=`` space); reject newlines."""
    if text and _special(text) is None:
        return text
    _check_name(what, text)
    return text.translate(_KEY_TABLE)


def escape_measurement(text: str) -> str:
    """Escape a measurement name (``,`` space); reject newlines."""
    if text and _special(text) is None:
        return text
    _check_name("measurement", text)
    return text.translate(_MEAS_TABLE)


def _field(key: str, value: float | int | str | bool) -> str:
    if type(value) is float and value - value == 0.0:  # finite float: the common case
        return key + "=" + repr(value)
    if value is True:
        return key + "=true"
    if value is False:
        return key + "=false"
    if isinstance(value, str):
        return key + '="' + value.translate(_STR_TABLE) + '"'
    number = float(value)
    if not math.isfinite(number):
        raise LineProtocolError("field", key, f"{number} is not finite")
    return key + "=" + repr(number)


def ts_ms(ts: float) -> int:
    """Source timestamp in seconds → integer milliseconds (the precision of every write)."""
    return round(ts * 1000)


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], ts: int) -> str:
    """One point: tags sorted by key, ``None`` fields omitted, numbers as floats, ``ts`` in ms."""
    head = escape_measurement(measurement)
    for key in sorted(tags):
        head += "," + escape_key(key, "tag key") + "=" + escape_key(tags[key], "tag value")
    body = ",".join([_field(escape_key(k, "field key"), v) for k, v in fields.items() if v is not None])
    if not body:
        raise LineProtocolError("fields", measurement, "a point needs at least one non-null field")
    return head + " " + body + " " + str(ts)


def _flag_groups(flags: Mapping[str, str]) -> tuple[dict[int, str], str]:
    per_port: dict[int, list[str]] = {}
    device: list[str] = []
    for key, reason in flags.items():
        name, bracket, rest = key.partition("[")
        # at most 4 digits: int() of thousands of digits raises (and no pile has 10,000 ports)
        if (
            bracket
            and rest.endswith("]")
            and 1 < len(rest) <= 5
            and rest[:-1].isascii()
            and rest[:-1].isdigit()
        ):
            per_port.setdefault(int(rest[:-1]), []).append(f"{name}:{reason}")
        else:
            device.append(f"{key}:{reason}")
    return {p: ";".join(v) for p, v in per_port.items()}, ";".join(device)


def _template(names: tuple[str, ...]) -> str:
    """``,a=%s,b=%s`` for the field names of one layout (cached: a fleet has few layouts)."""
    text = _TEMPLATES.get(names)
    if text is None:
        if len(_TEMPLATES) >= 1024:
            _TEMPLATES.clear()
        text = _TEMPLATES[names] = "".join(["," + name + "=%s" for name in names])
    return text


def _port_bodies(msg: Telemetry, width: int) -> list[str]:
    """``,name=value`` text of every port, every number formatted in one msgspec pass.

    msgspec writes the shortest round-trip form like ``repr`` (``1e16`` for ``1e+16``, which
    InfluxDB parses to the same float) at a fraction of ``repr``'s cost. A port holding a
    ``null`` (``None``, and msgspec's form of NaN/Inf) or a column shorter than ``width`` takes
    the per-value path, which omits ``None`` and keeps NaN visible to the store.
    """
    cols = list(msg.ports.values())
    if any(len(col) != width for col in cols):
        columns = list(msg.ports.items())
        return [_slow_port(columns, port) for port in range(width)]
    template = _template(tuple(msg.ports))
    rows = _format(list(zip(*cols, strict=True))).decode()[2:-2].split("],[")
    bodies = [template % tuple(row.split(",")) for row in rows]
    for port, row in enumerate(rows):
        if "null" in row:
            bodies[port] = _slow_port(list(msg.ports.items()), port)
    return bodies


def _values_text(values: Mapping[str, float | None]) -> str:
    """``,name=value`` text of the device values, ``None`` values omitted."""
    if not values:
        return ""
    text = _format(values).decode()
    if "null" not in text:
        return "," + text[2:-1].replace('":', "=").replace(',"', ",")
    return "".join(["," + name + "=" + repr(float(v)) for name, v in values.items() if v is not None])


def _slow_port(names_cols: list[tuple[str, list[float | None]]], port: int) -> str:
    body = ""
    for name, col in names_cols:
        if port < len(col):
            value = col[port]
            if value is not None:
                body += "," + name + "=" + repr(float(value))
    return body


def telemetry_lines(msg: Telemetry, site: str, kind: DeviceKind = "pile") -> list[str]:
    """Points of one telemetry message: one ``port`` point per port, one ``pile``/``blocker`` point.

    ``device``, ``model`` and the value names are validated ids (``[A-Za-z0-9_-]``, ``[a-z0-9_]``)
    so they need no escaping; only ``site`` is escaped. Numbers are formatted by msgspec in
    one pass per message and fitted into a cached per-layout template (``_port_bodies``).
    """
    site_tag = escape_key(site, "site")
    ident = ",device=" + msg.device + ",model=" + msg.model
    tail = " " + str(round(msg.ts * 1000))
    meta = " boot=" + repr(float(msg.boot)) + ",seq=" + repr(float(msg.seq))
    port_flags, device_flags = _flag_groups(msg.flags) if msg.flags else ({}, "")
    width = max(map(len, msg.ports.values()), default=0)
    bodies = _port_bodies(msg, width) if width else []
    head = "port" + ident + ",port="
    mid = ",site=" + site_tag + meta
    if port_flags:
        for port, flag in port_flags.items():
            if port < width:
                bodies[port] += "," + _field("flags", flag)
    out = [head + str(port) + mid + body + tail for port, body in enumerate(bodies)]
    values = _values_text(msg.values)
    if device_flags:
        values += "," + _field("flags", device_flags)
    out.append(kind + ident + ",site=" + site_tag + meta + values + tail)
    return out


def event_lines(msg: Event, site: str, model: str | None = None) -> list[str]:
    """The ``event`` point of one event; ``kind`` and ``port`` are tags, ``data`` are fields."""
    tags = {"device": msg.device, "kind": msg.kind, "site": site}
    if model is not None:
        tags["model"] = model
    if msg.port is not None:
        tags["port"] = str(msg.port)
    fields: dict[str, FieldValue] = dict(msg.data)
    fields["boot"] = float(msg.boot)
    fields["seq"] = float(msg.seq)
    return [line("event", tags, fields, ts_ms(msg.ts))]

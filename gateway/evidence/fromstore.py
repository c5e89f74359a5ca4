"""Read one device's raw messages of a time range back from the time-series store.

The inverse of :func:`gateway.lineproto.telemetry_lines` and ``event_lines``, as far as the
store allows: a ``pile``/``blocker`` point (which carries ``boot`` and ``seq``) and the ``port``
points of the same millisecond become one :class:`~chargewatch.messages.Telemetry`; an ``event``
point of a device event kind becomes one :class:`~chargewatch.messages.Event` (the gateway's own
``data_gap``/``stale_data`` marks are skipped). Only :meth:`TimeSeriesStore.series` is used, so
every backend (SQLite, InfluxDB 1.x, VictoriaMetrics) serves it.

What the store cannot give back is reported in :class:`StoreRead`'s ``rebuilt`` note (the
``rebuilt`` key of the evidence document):

* ``ts_resolution_ms``: timestamps are whole milliseconds (messages in one millisecond share a
  point, the later overwriting the earlier), values are rounded to their register's resolution;
* ``not_stored``: the profile points of the device's model (of the alert's port, and the device's
  own values but housekeeping) of which the store holds no value in the range (a ``None`` value
  is never written);
* ``seqs_missing``: seqs absent between the first and the last message of each boot — messages
  the store does not hold (lost to a shared millisecond or never written);
* ``event_data``: the event data keys read (:data:`EVENT_DATA`, the ones the edge agent writes),
  text ones included: every backend gives text back (VictoriaMetrics through the text labels of
  :mod:`gateway.store._vmtext`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from chargewatch.messages import DeviceMessage, Event, EventKind, Telemetry
from chargewatch.profiles import DeviceProfile
from gateway.evidence.window import HOUSEKEEPING, Window
from gateway.lineproto import ts_ms
from gateway.store.base import Field, Row, TimeSeriesStore
from gateway.store.errors import UnknownSeriesError

#: fields of every point that are no reading
META = frozenset({"boot", "seq", "flags"})
#: device event kinds (the gateway's own event points have others)
EVENT_KINDS = frozenset(get_args(EventKind))
#: the text event data keys the edge agent writes (edge_agent/modbus/transitions.py, agent.py)
EVENT_TEXT = ("alarm", "detail", "end_state", "error", "fault", "reason", "rule")
#: its numeric and boolean ones
EVENT_NUMBERS = ("code", "count", "energy", "hold_s", "limit", "session_count", "session_s", "total", "unit")
EVENT_DATA = (*EVENT_TEXT, *EVENT_NUMBERS, "value", "verified")


@dataclass(slots=True)
class StoreRead:
    """The messages read back, oldest first, and the note of what the store could not give."""

    messages: list[DeviceMessage] = field(default_factory=list)
    rebuilt: dict[str, Any] = field(default_factory=dict)


def _fields(profiles: Mapping[str, DeviceProfile]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {"port": set(), "pile": set(), "blocker": set()}
    for profile in profiles.values():
        out["port"].update(p.name for p in profile.port_points)
        out[profile.kind].update(p.name for p in profile.device_points)
    return {m: sorted(names | {"boot", "seq"}) for m, names in out.items()}


async def _series(
    store: TimeSeriesStore, measurement: str, fields: list[str], where: dict[str, str], span: tuple[int, int]
) -> list[Row]:
    try:
        return await store.series(measurement, fields, where, *span)
    except UnknownSeriesError:  # none of these fields was ever written: nothing to read
        return []


def _number(value: Field) -> float | None:
    return None if isinstance(value, str) else float(value)


def _telemetry(device: str, dev: Row, ports: Mapping[int, Row], names: list[str], width: int) -> Telemetry:
    cols: dict[str, list[float | None]] = {n: [None] * width for n in names}
    for p, row in ports.items():
        for name, value in row.fields.items():
            if name in cols:
                cols[name][p] = _number(value)
    values = {k: _number(v) for k, v in dev.fields.items() if k not in META and not isinstance(v, str)}
    return Telemetry(
        device=device,
        boot=int(dev.fields.get("boot", 0)),
        seq=int(dev.fields.get("seq", 0)),
        ts=dev.ts / 1000,
        model=dev.tags.get("model", "unknown"),
        ports=dict(cols),
        values=values,
    )


def _event(device: str, row: Row) -> Event:
    """The event of ``row``."""
    port = row.tags.get("port")
    data: dict[str, float | str | bool | None] = {k: v for k, v in row.fields.items() if k not in META}
    return Event(
        device=device,
        boot=int(row.fields.get("boot", 0)),
        seq=int(row.fields.get("seq", 0)),
        ts=row.ts / 1000,
        kind=row.tags["kind"],  # type: ignore[arg-type]  # filtered to EVENT_KINDS by the caller
        port=None if port is None else int(port),
        data=data,
    )


def _missing_seqs(msgs: list[DeviceMessage]) -> int:
    by_boot: dict[int, set[int]] = {}
    for m in msgs:
        by_boot.setdefault(m.boot, set()).add(m.seq)
    return sum(max(s) - min(s) + 1 - len(s) for s in by_boot.values())


def _not_stored(profile: DeviceProfile | None, port: int | None, msgs: list[DeviceMessage]) -> list[str]:
    if profile is None:
        return []
    seen: set[str] = set()
    for m in msgs:
        if isinstance(m, Telemetry):
            for name, col in m.ports.items():
                wanted = col if port is None else col[port : port + 1]
                if any(v is not None for v in wanted):
                    seen.add(name)
            seen.update(k for k, v in m.values.items() if v is not None)
    points = [p.name for p in profile.port_points] if profile.kind == "pile" else []
    points += [p.name for p in profile.device_points if p.name not in HOUSEKEEPING]
    return sorted(set(points) - seen)


async def read_messages(
    store: TimeSeriesStore, profiles: Mapping[str, DeviceProfile], w: Window, end: float
) -> StoreRead:
    """The messages of ``w``'s device (only its port's port points, for an alert of one port)
    with source time in ``[w.start, end]``, and the ``rebuilt`` note."""
    device, port = w.device, w.port
    fields = _fields(profiles)
    span = (ts_ms(w.start), ts_ms(end) + 1)
    where = {"device": device}
    devices: list[Row] = []
    for kind in ("pile", "blocker"):
        devices += await _series(store, kind, fields[kind], where, span)
    port_where = where if port is None else {**where, "port": str(port)}
    port_rows = await _series(store, "port", [f for f in fields["port"] if f not in META], port_where, span)
    by_ts: dict[int, dict[int, Row]] = {}
    names: set[str] = set()
    for row in port_rows:
        by_ts.setdefault(row.ts, {})[int(row.tags.get("port", "0"))] = row
        names.update(k for k in row.fields if k not in META)
    width = 1 + max((p for ports in by_ts.values() for p in ports), default=-1)
    msgs: list[DeviceMessage] = [
        _telemetry(device, dev, by_ts.get(dev.ts, {}), sorted(names), width) for dev in devices
    ]
    events = await _series(store, "event", ["boot", "seq", *EVENT_DATA], where, span)
    msgs += [_event(device, row) for row in events if row.tags.get("kind") in EVENT_KINDS]
    msgs.sort(key=lambda m: (m.ts, m.boot, m.seq))
    model = next((m.model for m in msgs if isinstance(m, Telemetry)), None)
    rebuilt = {
        "from": store.name,
        "ts_resolution_ms": 1,
        "values": "rounded to the register resolution of the device profile",
        "not_stored": _not_stored(profiles.get(model) if model else None, port, msgs),
        "seqs_missing": _missing_seqs(msgs),
        "event_data": list(EVENT_DATA),
    }
    return StoreRead(msgs, rebuilt)

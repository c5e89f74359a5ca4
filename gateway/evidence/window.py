"""One alert's black-box window: the raw samples around it, and its sealed, checksummed form.

A window holds the device's accepted messages whose source time lies in
``[alert_ts - before_s, settled_ts + after_s]``, in whatever order they arrived (a backlog
draining behind the live stream fills it too). ``alert_ts`` is the alert's first change;
``settled_ts`` the change that decided it: firing (at once, or after a pending confirmation
that may last minutes), or resolving while still pending. While the alert is pending the
window stays open at its end (``window.end`` then says how far it reaches so far: its newest
sample), so the evidence of a page covers the whole confirmation.

:func:`document` turns it into the evidence document: one series per point, ``[ts, value]``
pairs in source-time order:

* ``scope: "port"`` — every per-port column of the alert's port (of every port for an alert of
  the whole device), ``port`` the wire index (0-based);
* ``scope: "pile"`` — the device's own values (ambient and socket temperatures, smoke, total
  power...; for a blocker all of its values) except identity and housekeeping registers;

and ``events``: the device's events in the window (the agent's ``interlock`` cuts, session
starts and ends, ``device_down``...), ``{"ts", "kind", "port", "data"}`` in source-time order.
A window rebuilt from the time-series store after a crash (:mod:`gateway.evidence.rebuild`)
also carries ``rebuilt``: what the store gave back and what it could not.

:func:`canonical` is the serialisation the checksum covers: JSON with sorted keys, no
whitespace, UTF-8, floats in their shortest round-trip form; ``sealed`` and ``sha256`` are not
part of it. :func:`checksum` is the SHA-256 of those bytes in hex.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chargewatch.messages import DeviceMessage, Event, Telemetry
from chargewatch.profiles import DeviceProfile

#: device values that say nothing about a fire (identity, counters, clocks)
HOUSEKEEPING = frozenset({"firmware_version", "serial_number", "heartbeat", "device_clock"})
#: keys of a sealed document that the checksum does not cover
UNHASHED = ("sealed", "sha256")


@dataclass(slots=True)
class Window:
    """The open (not yet sealed) evidence window of one alert."""

    alert_id: str
    device: str
    port: int | None
    kind: str
    alert_ts: float
    before_s: float
    after_s: float
    opened_at: float  # gateway clock, for the seal time-out
    max_samples: int
    settled_ts: float | None = None  # the firing (or pending → resolved) change; None while pending
    samples: dict[tuple[int, int], DeviceMessage] = field(default_factory=dict)  # (boot, seq) → message
    dropped: int = 0
    seeded: bool = True  # False while a window rebuilt after a crash waits for its store read
    rebuilt: dict[str, Any] | None = None  # what the store gave back (gateway.evidence.rebuild)

    @property
    def start(self) -> float:
        return self.alert_ts - self.before_s

    @property
    def end(self) -> float:
        """The window's end (infinite while the alert is pending)."""
        return (math.inf if self.settled_ts is None else self.settled_ts) + self.after_s

    def settle(self, ts: float) -> None:
        """The alert fired (or resolved without firing) at ``ts``: the window ends after_s later."""
        if self.settled_ts is None:
            self.settled_ts = max(ts, self.alert_ts)

    def add(self, msg: DeviceMessage) -> None:
        """Keep ``msg`` if it lies in the window (once per (boot, seq); capped at max_samples)."""
        if not self.start <= msg.ts <= self.end:
            return
        key = (msg.boot, msg.seq)
        if key in self.samples:
            return
        if len(self.samples) >= self.max_samples:
            self.dropped += 1
            return
        self.samples[key] = msg


def _unit(profiles: Mapping[str, DeviceProfile], model: str, name: str) -> str:
    profile = profiles.get(model)
    point = profile.by_name.get(name) if profile is not None else None
    return point.unit if point is not None else ""


def document(w: Window, profiles: Mapping[str, DeviceProfile], **extra: object) -> dict[str, Any]:
    """The evidence document of ``w`` (without ``sealed``/``sha256``); ``extra`` keys are added."""
    end = w.end
    kept = (m for m in w.samples.values() if m.ts <= end)  # taken while the end was still open
    ordered = sorted(kept, key=lambda m: (m.ts, m.boot, m.seq))
    msgs = [m for m in ordered if isinstance(m, Telemetry)]
    events = [
        {"ts": e.ts, "kind": e.kind, "port": e.port, "data": e.data} for e in ordered if isinstance(e, Event)
    ]
    ports: dict[tuple[str, int], list[list[float | None]]] = {}
    pile: dict[str, list[list[float | None]]] = {}
    units: dict[str, str] = {}
    for msg in msgs:
        for name, col in msg.ports.items():
            wanted = range(len(col)) if w.port is None else (w.port,)
            for p in wanted:
                if p < len(col):
                    ports.setdefault((name, p), []).append([msg.ts, col[p]])
                    units.setdefault(name, _unit(profiles, msg.model, name))
        for name, value in msg.values.items():
            if name not in HOUSEKEEPING:
                pile.setdefault(name, []).append([msg.ts, None if value is None else float(value)])
                units.setdefault(name, _unit(profiles, msg.model, name))
    series: list[dict[str, Any]] = [
        {"name": name, "scope": "port", "port": p, "unit": units[name], "points": pts}
        for (name, p), pts in sorted(ports.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]
    series += [
        {"name": name, "scope": "pile", "port": None, "unit": units[name], "points": pts}
        for name, pts in sorted(pile.items())
    ]
    return {
        "alert_id": w.alert_id,
        "device": w.device,
        "port": w.port,
        "kind": w.kind,
        "alert_ts": w.alert_ts,
        "window": {
            "start": w.start,
            "end": max([w.alert_ts, *(m.ts for m in ordered[-1:])]) if math.isinf(end) else end,
            "before_s": w.before_s,
            "after_s": w.after_s,
        },
        "settled_ts": w.settled_ts,
        "samples": len(msgs),
        "dropped": w.dropped,
        "series": series,
        "events": events,
        **({} if w.rebuilt is None else {"rebuilt": w.rebuilt}),
        **extra,
    }


def canonical(doc: Mapping[str, Any]) -> bytes:
    """The bytes the checksum covers: ``doc`` without ``sealed``/``sha256``, canonical JSON."""
    body = {k: v for k, v in doc.items() if k not in UNHASHED}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode()


def checksum(doc: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical` ``(doc)``."""
    return hashlib.sha256(canonical(doc)).hexdigest()

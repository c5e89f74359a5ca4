"""What a day's supervision report holds, read from the store and the gateway's state database.

Sessions, interlock trips, blocked entries and blocker samples come from the store (the same
points the API serves); alerts with their acknowledgement from the state database's alert book,
opened read-only so a running gateway is not disturbed. Everything is in the site's time zone
(the tariff's): the day is local midnight to midnight.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chargewatch.errors import ConfigError
from gateway.sessions import read_sessions
from gateway.store.base import Row, TimeSeriesStore
from gateway.store.errors import UnknownSeriesError

#: session end reasons that are the pile cutting the port itself
PILE_TRIPS = frozenset(
    {"over_temperature", "over_current", "smoke", "over_voltage", "under_voltage", "pile_overload"}
)


@dataclass
class Offline:
    device: str
    start: float
    end: float
    ongoing: bool


@dataclass
class Blocker:
    device: str
    samples: int = 0
    camera_ok: int = 0
    detections: int = 0
    door_holds: int = 0

    @property
    def camera_share(self) -> float | None:
        return self.camera_ok / self.samples if self.samples else None


@dataclass
class DayData:
    site: str
    day: date
    tz: ZoneInfo
    start: float
    end: float
    sessions: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    trips: list[dict[str, Any]] = field(default_factory=list)
    blockers: dict[str, Blocker] = field(default_factory=dict)
    offline: list[Offline] = field(default_factory=list)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[float, float]:
    """Epoch seconds of local midnight starting ``day`` and the next."""
    start = datetime.combine(day, time(0), tz)
    return start.timestamp(), datetime.combine(day + timedelta(days=1), time(0), tz).timestamp()


def read_alerts(state_path: Path, start: float, end: float) -> list[dict[str, Any]]:
    """Alerts open at any time in [start, end) from the alert book (read-only)."""
    if not state_path.exists():
        raise ConfigError(
            f"{state_path}: no gateway state database here. Fix: point --config at the gateway's"
        )
    db = sqlite3.connect(f"file:{state_path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT id, device, port, kind, severity, state, first_ts, ts, acked_at, acked_by FROM alert "
            "WHERE first_ts < ? AND (ts >= ? OR state != 'resolved') ORDER BY first_ts",
            (end, start),
        ).fetchall()
    finally:
        db.close()
    keys = ("id", "device", "port", "kind", "severity", "state", "first_ts", "ts", "acked_at", "acked_by")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def offline_spans(alerts: list[dict[str, Any]], start: float, end: float) -> list[Offline]:
    """``device_offline`` alerts clipped to the day; an unresolved one runs to the day's end."""
    out = []
    for a in alerts:
        if a["kind"] != "device_offline":
            continue
        ongoing = a["state"] != "resolved"
        stop = end if ongoing else min(float(a["ts"]), end)
        out.append(Offline(a["device"], max(float(a["first_ts"]), start), stop, ongoing))
    return out


async def _rows(
    store: TimeSeriesStore, measurement: str, fields: list[str], where: dict[str, str], span: tuple[int, int]
) -> list[Row]:
    """The points of ``measurement``; none when the store has never held those fields (a site
    without an interlock trip or a blocker yet: SQLite knows fields only from stored points)."""
    try:
        return list(await store.series(measurement, fields, where, *span))
    except UnknownSeriesError:
        return []


async def gather(store: TimeSeriesStore, state_path: Path, site: str, day: date, tz: ZoneInfo) -> DayData:
    start, end = day_bounds(day, tz)
    data = DayData(site, day, tz, start, end)
    lo, hi = int(start * 1000), int(end * 1000)
    data.sessions = [
        s
        for s in await read_sessions(store, tz, device=None, start_ms=lo, end_ms=hi, limit=1_000_000)
        if s["site"] == site
    ]
    data.alerts = read_alerts(state_path, start, end)
    data.offline = offline_spans(data.alerts, start, end)
    where = {"site": site, "kind": "interlock"}
    for row in await _rows(store, "event", ["rule", "value", "limit", "verified"], where, (lo, hi)):
        port = row.tags.get("port")
        data.trips.append(
            {
                "ts": row.ts / 1000,
                "device": row.tags.get("device", ""),
                "port": int(port) + 1 if port is not None else None,
                **row.fields,
            }
        )
    for row in await _rows(store, "blocker", ["camera_online"], {"site": site}, (lo, hi)):
        b = data.blockers.setdefault(row.tags["device"], Blocker(row.tags["device"]))
        b.samples += 1
        b.camera_ok += bool(row.fields.get("camera_online"))
    for kind in ("detection", "door_hold"):
        for row in await _rows(store, "event", ["count", "seq"], {"site": site, "kind": kind}, (lo, hi)):
            b = data.blockers.setdefault(row.tags["device"], Blocker(row.tags["device"]))
            if kind == "detection":
                count = row.fields.get("count", 1.0)
                b.detections += int(count) if isinstance(count, int | float) else 1
            else:
                b.door_holds += 1
    return data

"""``GET /api/ports``: the control room's site → pile → port grid, one state per port.

Built from what the gateway already holds: each device's last telemetry (state and fault codes
named through its profile), its liveness and the open alerts. A port's state is the first that
applies of ``offline`` (the device is silent), ``tripped`` (the pile cut it: a protective
fault code such as ``over_temperature``, or an open ``port_cut`` / ``interlock`` alert),
``fault`` (the pile reports a fault state without a protective code, or a relay fault),
``hot`` (an open overheating alert, or the socket at or above ``HOT_C``), ``charging``,
``full``, ``idle``. Ports carry both numbers: ``port`` is the wire
(profile) index from 0, ``label`` the number printed on the pile, from 1.

Blockers (the lift and door-hold units) list their blocker facts instead: online, camera,
relay contact, door-hold, and the e-bikes turned away today (``blocked_today``: the rise of
their ``detections`` counter since local midnight, counting a reset as a new start).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chargewatch.logs import kv
from chargewatch.profiles import DeviceProfile
from gateway.store.base import Row
from gateway.store.errors import StoreError

log = logging.getLogger(__name__)
Series = Callable[[str, Sequence[str], Mapping[str, str], int, int], Awaitable[list[Row]]]

#: a socket this hot counts as ``hot`` even before an alert fires (°C)
HOT_C = 60.0
STATES = ("offline", "tripped", "fault", "hot", "charging", "full", "idle")
OVERHEAT_KINDS = frozenset(
    {"socket_overtemp", "temp_rising_fast", "port_hotter_than_neighbours", "thermal_residual"}
)
CUT_KINDS = frozenset({"port_cut", "interlock", "interlock_trip", "pile_trip"})
#: fault codes that are the pile's protection cutting the port (as the daily report counts
#: trips); a session time-out or a remote stop is not one
TRIP_CODES = frozenset(
    {"over_temperature", "over_current", "smoke", "over_voltage", "under_voltage", "pile_overload"}
)


def _named(profile: DeviceProfile | None, point: str, raw: float | None) -> str | None:
    if raw is None:
        return None
    if profile is not None:
        p = profile.by_name.get(point)
        if p is not None and p.values is not None:
            return p.values.get(int(raw), str(int(raw)))
    return str(int(raw))


def _col(ports: Mapping[str, Sequence[float | None]], name: str, i: int) -> float | None:
    col = ports.get(name)
    return col[i] if col is not None and i < len(col) else None


def port_state(
    online: bool, state: str | None, fault: str | None, temp: float | None, kinds: Iterable[str]
) -> str:
    """The one state a port shows (see the module doc for the order)."""
    kinds = set(kinds)
    if not online:
        return "offline"
    if fault in TRIP_CODES or kinds & CUT_KINDS:
        return "tripped"
    if state == "fault":
        return "fault"
    if kinds & OVERHEAT_KINDS or (temp is not None and temp >= HOT_C):
        return "hot"
    if state in {"charging", "full"}:
        return state
    return "idle"


def _ports(
    row: Mapping[str, Any], profile: DeviceProfile | None, open_by_port: dict[int, list[str]]
) -> list[dict[str, Any]]:
    cols: Mapping[str, Sequence[float | None]] = row.get("ports") or {}
    count = profile.ports if profile is not None else max((len(c) for c in cols.values()), default=0)
    relay_fault = bool((row.get("values") or {}).get("relay_fault"))
    out = []
    for i in range(count):
        state = _named(profile, "state", _col(cols, "state", i))
        fault = _named(profile, "fault_code", _col(cols, "fault_code", i))
        temp = _col(cols, "socket_temp", i)
        kinds = open_by_port.get(i, [])
        shown = port_state(bool(row.get("online")), "fault" if relay_fault else state, fault, temp, kinds)
        out.append(
            {
                "port": i,
                "label": i + 1,
                "state": shown,
                "pile_state": state,
                "fault": fault,
                "socket_temp": temp,
                "power": _col(cols, "power", i),
                "energy": _col(cols, "energy", i),
                "relay_on": _col(cols, "relay_on", i),
                "alerts": sorted(set(kinds)),
            }
        )
    return out


def grid(
    devices: Sequence[Mapping[str, Any]],
    open_alerts: Sequence[Mapping[str, Any]],
    profiles: Mapping[str, DeviceProfile],
    site: str,
    blocked_today: Mapping[str, int],
) -> dict[str, Any]:
    """The ``/api/ports`` body: ``{"site": ..., "piles": [...], "blockers": [...]}``."""
    by_device: dict[str, dict[int | None, list[str]]] = {}
    for a in open_alerts:
        by_device.setdefault(a["device"], {}).setdefault(a.get("port"), []).append(a["kind"])
    piles: list[dict[str, Any]] = []
    blockers: list[dict[str, Any]] = []
    for row in devices:
        device = row["device"]
        profile = profiles.get(row.get("model") or "")
        alerts = by_device.get(device, {})
        base = {
            "device": device,
            "model": row.get("model"),
            "online": bool(row.get("online")),
            "last_seen_s": row.get("last_seen_s"),
            "ts": row.get("ts"),
            "alerts": sorted(alerts.get(None, [])),
        }
        values: Mapping[str, Any] = row.get("values") or {}
        if profile is not None and profile.kind == "blocker":
            blockers.append(
                base
                | {
                    "camera_online": values.get("camera_online"),
                    "relay_closed": values.get("relay_closed"),
                    "door_hold": values.get("door_hold"),
                    "ebike_present": values.get("ebike_present"),
                    "blocked_today": blocked_today.get(device),
                }
            )
            continue
        ports_open = {p: k for p, k in alerts.items() if p is not None}
        piles.append(
            base
            | {
                "ambient_temp": values.get("ambient_temp"),
                "total_power": values.get("total_power"),
                "smoke_alarm": values.get("smoke_alarm"),
                "ports": _ports(row, profile, ports_open),
            }
        )
    return {"site": site, "states": list(STATES), "piles": piles, "blockers": blockers}


def counter_rise(points: Iterable[float | None]) -> int:
    """How much a counter rose over ``points`` (oldest first); a drop is a reset to 0."""
    total, last = 0.0, None
    for v in points:
        if v is None:
            continue
        if last is not None:
            total += v - last if v >= last else v
        last = v
    return int(total)


class BlockedToday:
    """E-bikes each blocker turned away since local midnight, read from the store per request;
    a failing store is logged once (and its recovery once), the count left out meanwhile."""

    def __init__(self, profiles: Mapping[str, DeviceProfile]) -> None:
        self.profiles = profiles
        self.failing = False

    async def counts(
        self, series: Series, devices: Sequence[Mapping[str, Any]], tz: ZoneInfo, now: float
    ) -> dict[str, int]:
        midnight = datetime.fromtimestamp(now, tz).replace(hour=0, minute=0, second=0, microsecond=0)
        start_ms, end_ms = int(midnight.timestamp() * 1000), int(now * 1000) + 1
        out: dict[str, int] = {}
        for d in devices:
            profile = self.profiles.get(d.get("model") or "")
            if profile is None or profile.kind != "blocker":
                continue
            try:
                rows = await series("blocker", ["detections"], {"device": d["device"]}, start_ms, end_ms)
            except StoreError as exc:
                if not self.failing:
                    log.warning(kv("blocked_today_unavailable", device=d["device"], error=exc))
                self.failing = True
                continue
            if self.failing:
                log.info(kv("blocked_today_available", device=d["device"]))
                self.failing = False
            out[d["device"]] = counter_rise(
                v if isinstance(v := row.fields.get("detections"), int | float) else None for row in rows
            )
        return out

"""How injected faults act on a pile: hazards change the physics, sensor faults the readings.

Hazard faults on a port force a session at onset when the port has none (a rider plugs in
the affected bike) and keep the bike plugged. Contact hazards (connector overheat, overcurrent
spikes) need bulk current through the contact for as long as the hazard takes to develop, so
on a port whose charge is finishing (full, in CV, or less than ``_MIN_BULK_S`` of constant
current left: the current would taper away before the contact heats) the rider swaps in a
fresh bike at onset: the old session ends (port idle for ``_SWAP_S``) and the new one starts
in bulk, so every injected hazard is a hazard in progress.
Sensor faults act on the telemetry path only (what the registers report);
the firmware's own protection inputs stay true.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from chargewatch.profiles import DeviceProfile
from firmware_sim.devices.port import Port
from firmware_sim.faults.kinds import Fault, ParamValue
from firmware_sim.physics.charger import Charger, Chemistry, draw_charger
from firmware_sim.physics.thermal import BATTERY_CRITICAL_C, SOCKET_CRITICAL_C

_STAY_DROPPED = 0.8
#: hazards that need current through the contact: a finishing charge gets a fresh bike
_NEED_BULK = frozenset({"connector_overheat", "overcurrent_spike"})
#: constant-current time a contact hazard needs to develop (the default connector fault doubles
#: its resistance every 400 s and reaches critical 35–65 minutes after onset); a slower wear
#: needs about six doublings, a plateau an hour more to be held, up to ``_MAX_BULK_S``
_MIN_BULK_S = 3600.0
_MAX_BULK_S = 4 * 3600.0
#: fresh bikes drawn for a slow contact hazard; the one with the longest bulk is plugged in
_BULK_DRAWS = 8
#: seconds a bike swap leaves the port unplugged (range drawn uniformly)
_SWAP_S = (30.0, 120.0)
#: a contact settled at plateau_c is critical once held within this band of it for an hour
#: (IEC 60884-1 limits the terminal temperature rise of a socket to 45 K: held there for long,
#: insulation and contact springs age and the wear accelerates)
_PLATEAU_BAND_C = 2.0
_PLATEAU_HOLD_S = 3600.0


class SensorFault:
    """One active sensor fault on one reading of one port."""

    __slots__ = ("dropped", "fault", "kind", "point", "port", "raw", "sentinel", "share", "value")

    def __init__(self, fault: Fault, point: str, share: float, sentinel: float) -> None:
        self.fault = fault
        self.kind = fault.kind
        self.point = point
        self.port = fault.port if fault.port is not None else 0
        self.share = share
        self.sentinel = sentinel
        self.dropped = False
        #: value that replaces the reading this step (stuck, dropout), or None
        self.value: float | None = None
        #: registers that replace the encoded reading this step (garbage), or None
        self.raw: list[int] | None = None

    def step(self, rng: random.Random, profile: DeviceProfile) -> None:
        """Draw this step's effect (dropout bursts, garbage words)."""
        if self.kind == "sensor_dropout":
            if self.dropped:
                self.dropped = rng.random() < _STAY_DROPPED
            else:
                enter = self.share * (1.0 - _STAY_DROPPED) / max(1e-9, 1.0 - self.share)
                self.dropped = rng.random() < enter
            self.value = self.sentinel if self.dropped else None
        elif self.kind == "sensor_garbage":
            self.raw = garbage_words(rng, profile, self.point) if rng.random() < self.share else None


def garbage_words(rng: random.Random, profile: DeviceProfile, name: str) -> list[int]:
    """Random registers that decode outside the point's plausible range (or to NaN/inf)."""
    point = profile.point(name)
    words = [0xFFFF] * point.width
    for _ in range(64):
        words = [rng.getrandbits(16) for _ in range(point.width)]
        if not point.plausible(point.decode(words)):
            return words
    return words


def reading(port: Port, point: str) -> float:
    """The value the firmware reports for ``point`` of ``port`` right now."""
    if point == "socket_temp":
        return port.socket_read
    value: float = getattr(port, point)
    return value


Watch = tuple[Fault, Callable[[float], bool]]


def apply_hazard(
    port: Port,
    fault: Fault,
    params: dict[str, ParamValue],
    t: float,
    rng: random.Random,
    *,
    chemistries: list[Chemistry],
    limit_a: float,
) -> Watch:
    """Start hazard ``fault`` on ``port``; return the watch that detects its critical moment."""
    kind = fault.kind
    num = {k: float(v) for k, v in params.items() if not isinstance(v, str)}
    charger = port.charger
    need = _bulk_needed(kind, num)
    finishing = charger is not None and kind in _NEED_BULK and charger.bulk_left_s() < need
    if charger is None or finishing:
        lithium = [c for c in chemistries if c.startswith("lithium")] or list(chemistries)
        pool = lithium if kind == "thermal_runaway_precursor" else chemistries
        charger = draw_charger(rng, rng.choice(pool), min_w=400.0, soc=rng.uniform(0.1, 0.3))
        for _ in range(_BULK_DRAWS - 1 if need > _MIN_BULK_S else 0):
            other = draw_charger(rng, rng.choice(pool), min_w=400.0, soc=rng.uniform(0.1, 0.3))
            if other.bulk_left_s() > charger.bulk_left_s():
                charger = other
        if kind == "oversized_battery":
            charger.capacity_wh *= num["factor"]
        port.charger = charger
    elif kind == "oversized_battery":
        charger.capacity_wh *= num["factor"]
        charger.soc /= num["factor"]
        charger.stage = "cc" if charger.soc < charger.cv_soc else "cv"
    port.hazard_hold = True
    port.unplug_at = math.inf
    if finishing:
        if port.charging:
            port.end_session("idle", "none")
        port.state = "idle"
        port.plug_at = t + rng.uniform(*_SWAP_S)
    elif not port.charging and port.relay_on:
        port.start_session()
    if kind == "connector_overheat":
        port.overheat = (t, num["doubling_s"], num["max_ohm"], num["plateau_c"])
        if num["plateau_c"] > 0:
            check = _held(port, num["plateau_c"] - _PLATEAU_BAND_C, _PLATEAU_HOLD_S)
        else:
            check = _at_least(port, "socket_c", SOCKET_CRITICAL_C)
    elif kind == "thermal_runaway_precursor":
        port.self_heat = (t, num["q0_w"], num["growth_s"], num["max_w"])
        check = _at_least(port, "battery_c", BATTERY_CRITICAL_C)
    elif kind == "overcharge":
        charger.taper_floor = num["taper_floor"]
        if charger.full:
            charger.stage = "cv"
        check = _at_least(charger, "soc", 1.2)
    elif kind == "oversized_battery":
        check = _at_least(port, "dc_wh", 2.0 * charger.nominal_wh)
    elif kind == "overcurrent_spike":
        port.spike = (limit_a * num["factor"], num["every_s"], t)
        check = _spiked(port, limit_a)
    else:
        port.short_a = num["current_a"]
        check = _at_least(port, "current", limit_a)
    return fault, check


def _bulk_needed(kind: str, num: dict[str, float]) -> float:
    """Constant-current seconds a contact hazard needs on its port to develop."""
    if kind != "connector_overheat":
        return _MIN_BULK_S
    need = max(_MIN_BULK_S, 6.0 * num["doubling_s"])
    if num["plateau_c"] > 0:
        need += _PLATEAU_HOLD_S
    return min(need, _MAX_BULK_S)


def _at_least(obj: Port | Charger, attr: str, level: float) -> Callable[[float], bool]:
    def check(t: float) -> bool:
        value: float = getattr(obj, attr)
        return value >= level

    return check


def _held(port: Port, level: float, hold_s: float) -> Callable[[float], bool]:
    since: list[float] = []

    def check(t: float) -> bool:
        if port.socket_c < level:
            since.clear()
            return False
        if not since:
            since.append(t)
        return t - since[0] >= hold_s

    return check


def _spiked(port: Port, limit_a: float) -> Callable[[float], bool]:
    def check(t: float) -> bool:
        return port.spiking and port.current > limit_a

    return check

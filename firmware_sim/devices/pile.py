"""A simulated charging pile: per-port physics plus the pile firmware that runs sessions.

The firmware ends a session on full (power below ``min(full_w, full_share × peak)`` but
above the unplug level for ``full_confirm_s``), unplug (5-minute average below ``unplug_w``),
max duration, over-current (above limits.port_max_current_a for ``over_current_confirm_s``),
over-temperature (holding temp_cut_c, 0 disables), smoke, over/under-voltage, remote stop
(relay_on written 0) and pile overload; it refuses new sessions above
limits.pile_new_session_max_w (except the hazard-injected bike, which always charges).
Vendor codes of state and fault_code come from the profile.
"""

from __future__ import annotations

import logging
import math
import re
import zlib

from chargewatch.errors import ConfigError
from chargewatch.logs import kv
from chargewatch.profiles import DeviceProfile
from firmware_sim.devices._faulting import FaultHost, device_rng
from firmware_sim.devices._pile_faults import SensorFault, Watch, apply_hazard, reading
from firmware_sim.devices.instruments import Instruments
from firmware_sim.devices.params import PileParams
from firmware_sim.devices.port import Port
from firmware_sim.faults.kinds import KINDS, Fault, ParamValue
from firmware_sim.model import PointValues, RawOverrides, WriteRefusedError
from firmware_sim.physics.ambient import Ambient, Supply
from firmware_sim.physics.charger import draw_charger
from firmware_sim.physics.thermal import (
    BATTERY_TAU_S,
    CABINET_K_PER_W,
    CABINET_TAU_S,
    SOCKET_K_PER_W,
    SOCKET_TAU_S,
    relax_factor,
)

log = logging.getLogger(__name__)

STATE_LABELS = ("idle", "charging", "full", "fault", "stopped")
FAULT_LABELS = (
    "none",
    "over_current",
    "over_temperature",
    "timeout",
    "smoke",
    "over_voltage",
    "under_voltage",
    "remote_stop",
    "pile_overload",
)
PILE_POINTS = frozenset(
    {
        "relay_on", "state", "voltage", "current", "power", "energy", "socket_temp", "fault_code",
        "session_count", "session_s", "meter", "ambient_temp", "total_power", "supply_voltage",
        "firmware_version", "serial_number", "heartbeat", "device_clock", "smoke_alarm", "fuse_fault",
        "relay_fault", "alarm_reset", "temp_cut_c", "max_session_s",
    }
)  # fmt: skip
_LIMITS = ("port_max_current_a", "pile_max_power_w", "pile_new_session_max_w", "max_session_s")
_CONTROLLER_W = 6.0


def _codes(profile: DeviceProfile, point: str, labels: tuple[str, ...]) -> dict[str, float]:
    by_label = {label: float(code) for code, label in (profile.point(point).values or {}).items()}
    missing = [label for label in labels if label not in by_label]
    if missing:
        raise ConfigError(
            f"profile {profile.model}: points.{point}.values: no code for {missing}. "
            f"Fix: map a code to each of {list(labels)}"
        )
    return by_label


_INSTANCE = re.compile(r"^([a-z][a-z0-9_]*)(?:\[(\d+)\])?$")


def _no_sensor(
    device: str, profile: DeviceProfile, names: list[str]
) -> dict[tuple[str, int | None], list[int]]:
    """Registers of the readings without a sensor: each point's first ``invalid`` sentinel."""
    out: dict[tuple[str, int | None], list[int]] = {}
    for name in names:
        m = _INSTANCE.match(name)
        point = profile.by_name.get(m.group(1)) if m else None
        port = int(m.group(2)) if m and m.group(2) is not None else None
        if m is None or point is None or point.per_port != (port is not None):
            raise ConfigError(
                f"device {device}: params.no_sensor: {name!r} is not a point of {profile.model} "
                "(per-port points need [port]). Fix: e.g. socket_temp[0] or ambient_temp"
            )
        if port is not None and port >= profile.ports:
            raise ConfigError(
                f"device {device}: params.no_sensor: {name!r}: {profile.model} has {profile.ports} ports"
            )
        if not point.invalid:
            raise ConfigError(
                f"device {device}: params.no_sensor: {name!r}: profile {profile.model} declares no "
                "invalid sentinel for it. Fix: add invalid: [0xFFFF] to the point or drop the entry"
            )
        out[(point.name, port)] = point.raw_words(point.invalid[0])
    return out


def _bounds(profile: DeviceProfile, point: str) -> tuple[float, float]:
    rng = profile.point(point).range
    return rng if rng is not None else (-math.inf, math.inf)


class Pile(FaultHost):
    """A multi-port AC charging pile. ``ports[i]`` is the ground truth of port i."""

    def __init__(
        self, device_id: str, profile: DeviceProfile, params: PileParams, seed: int, start_time: float
    ) -> None:
        super().__init__(device_id, profile, seed, start_time, PILE_POINTS)
        missing = [k for k in _LIMITS if k not in profile.limits]
        if missing:
            raise ConfigError(f"profile {profile.model}: limits: missing {missing}. Fix: add them")
        self.params = params
        self._state_codes = _codes(profile, "state", STATE_LABELS)
        self._fault_codes = _codes(profile, "fault_code", FAULT_LABELS)
        self._i_max = _bounds(profile, "current")[1]
        self._p_max = _bounds(profile, "power")[1]
        self._t_lo, self._t_hi = _bounds(profile, "socket_temp")
        limits = profile.limits
        self.limit_a = limits["port_max_current_a"]
        self.temp_cut_c = params.temp_cut_c
        self.max_session_s = limits["max_session_s"] if params.max_session_s is None else params.max_session_s
        rng = self._rng
        offset = rng.uniform(-1.5, 1.5) if params.ambient_offset_c is None else params.ambient_offset_c
        if params.ambient_mean_c is not None and params.ambient_amplitude_c is not None:
            self.ambient = Ambient(
                params.ambient_mean_c,
                params.ambient_amplitude_c,
                offset_c=offset,
                utc_offset_h=params.utc_offset_h,
            )
        else:
            self.ambient = Ambient.preset(params.ambient, offset_c=offset, utc_offset_h=params.utc_offset_h)
        self.supply = Supply(params.supply_nominal_v, rng, utc_offset_h=params.utc_offset_h)
        self.serial_number = (
            zlib.crc32(device_id.encode()) % 100_000_000
            if params.serial_number is None
            else params.serial_number
        )
        air = self.ambient.temp(start_time)
        self.cabinet_c = air
        self.instruments = Instruments(
            device_rng(seed, f"{device_id}/instruments"),
            profile.ports,
            meter_gain_error=params.meter_gain_error,
        )
        self.ambient_read = self.instruments.ambient(air, 0.0)
        self.ports = [
            Port(
                i,
                air,
                rng.uniform(0.005, 0.05),
                SOCKET_K_PER_W * rng.uniform(0.75, 1.4),
                params.battery_coupling_w_per_k,
            )
            for i in range(profile.ports)
        ]
        for port in self.ports:
            if rng.random() < params.initial_occupancy:
                self._plug(port, start_time)
                port.start_session()
        self.total_w = 0.0
        self.smoke = False
        self._overload_s = 0.0
        self._smoke_c: dict[int, float] = {}
        self._sensors: list[SensorFault] = []
        self._watches: list[Watch] = []
        self._silent: list[Fault] = []
        self._no_sensor = _no_sensor(device_id, profile, params.no_sensor)

    @property
    def responding(self) -> bool:
        return not self._silent

    # ---- simulation step -------------------------------------------------------------------
    def step(self, t: float, dt: float) -> None:
        self._t = t
        self._elapsed += dt
        for fault, params in self._due(t):
            self._activate(fault, params, t)
        for fault in self._ended(t):
            self._sensors = [s for s in self._sensors if s.fault is not fault]
            self._silent = [f for f in self._silent if f is not fault]
        supply_v = self.supply.step(t, dt)
        air = self.ambient.temp(t)
        target = air + CABINET_K_PER_W * self.total_w
        self.cabinet_c += relax_factor(dt, CABINET_TAU_S) * (target - self.cabinet_c)
        self.ambient_read = self.instruments.ambient(self.cabinet_c, dt)
        volts_ok = (
            self.profile.limits.get("under_voltage_v", 0.0)
            <= supply_v
            <= self.profile.limits.get("over_voltage_v", math.inf)
        )
        self._plug_and_start(t, dt, volts_ok and not self.smoke)
        rng = self._rng
        fs, fb = relax_factor(dt, SOCKET_TAU_S), relax_factor(dt, BATTERY_TAU_S)
        total = _CONTROLLER_W
        sense = self.instruments
        for port in self.ports:
            port.advance(
                t, dt, supply_v=supply_v, cabinet_c=self.cabinet_c, ambient_c=air,
                socket_factor=fs, battery_factor=fb, rng=rng,
            )  # fmt: skip
            port.socket_read = sense.socket(port.index, port.socket_c)
            total += port.power
        self.total_w = total
        self.smoke = any(self.ports[i].battery_c >= c for i, c in self._smoke_c.items())
        if self._watches:
            self._check_watches(t)
        self._protect(t, dt, supply_v)
        for sensor in self._sensors:
            sensor.step(rng, self.profile)

    def _plug(self, port: Port, t: float) -> None:
        p, rng = self.params, self._rng
        chemistry = rng.choice(p.chemistries)
        port.charger = draw_charger(rng, chemistry, min_w=p.charger_min_w, max_w=p.charger_max_w)
        port.battery_c = self.cabinet_c + rng.uniform(0.0, 5.0)
        early = rng.random() < p.early_unplug_share
        port.unplug_at = t + rng.uniform(600.0, 5400.0) if early else math.inf

    def _plug_and_start(self, t: float, dt: float, may_start: bool) -> None:
        arrive = self.params.plug_rate_per_h * dt / 3600.0
        budget = self.profile.limits["pile_new_session_max_w"] - self.total_w
        for port in self.ports:
            charger = port.charger
            if charger is not None and t >= port.unplug_at and not port.hazard_hold:
                port.charger = charger = None
                port.unplug_at = math.inf
                if port.state != "charging":
                    port.state = "idle"
            if charger is None:
                if port.state == "idle" and self._rng.random() < arrive:
                    self._plug(port, t)
                    charger = port.charger
                else:
                    continue
            if (
                port.state == "idle"
                and port.relay_on
                and may_start
                and t >= port.plug_at
                and charger is not None
                and not charger.full
            ):
                need = charger.ac_power()
                if need <= budget or port.hazard_hold:
                    budget -= need
                    port.start_session()

    def _end(self, port: Port, t: float, state: str, fault: str) -> None:
        port.end_session(state, fault)
        if port.charger is not None and not port.hazard_hold:
            mean = self.params.mean_unplug_after_end_s
            port.unplug_at = t + (self._rng.expovariate(1.0 / mean) if mean > 0 else 0.0)
        if fault != "none":
            log.info(kv("port_cut", device=self.device_id, port=port.index, fault=fault))

    def _protect(self, t: float, dt: float, supply_v: float) -> None:
        p, limits = self.params, self.profile.limits
        cut_all = ""
        if self.smoke:
            cut_all = "smoke"
        elif supply_v > limits.get("over_voltage_v", math.inf):
            cut_all = "over_voltage"
        elif supply_v < limits.get("under_voltage_v", 0.0):
            cut_all = "under_voltage"
        for port in self.ports:
            if not port.charging:
                continue
            if cut_all:
                self._end(port, t, "fault", cut_all)
                continue
            port.oc_s = port.oc_s + dt if port.current > self.limit_a else 0.0
            avg = port.average_w(dt)
            full_w = min(p.full_w, p.full_share * port.peak_w)
            port.low_s = port.low_s + dt if p.unplug_w <= port.power < full_w else 0.0
            if port.oc_s >= p.over_current_confirm_s:
                self._end(port, t, "fault", "over_current")
            elif 0 < self.temp_cut_c <= port.socket_read:
                self._end(port, t, "fault", "over_temperature")
            elif 0 < self.max_session_s <= port.session_s:
                self._end(port, t, "stopped", "timeout")
            elif avg is not None and avg < p.unplug_w:
                self._end(port, t, "idle", "none")
            elif port.low_s >= p.full_confirm_s:
                self._end(port, t, "full", "none")
        self._overload_s = self._overload_s + dt if self.total_w > limits["pile_max_power_w"] else 0.0
        if self._overload_s >= p.over_current_confirm_s:
            charging = [port for port in self.ports if port.charging]
            if charging:
                self._end(max(charging, key=lambda port: port.power), t, "fault", "pile_overload")
            self._overload_s = 0.0

    # ---- faults ----------------------------------------------------------------------------
    def _activate(self, fault: Fault, params: dict[str, ParamValue], t: float) -> None:
        log.info(kv("fault_onset", device=self.device_id, port=fault.port, kind=fault.kind))
        if fault.kind == "pile_unresponsive":
            self._silent.append(fault)
            return
        port = self.ports[fault.port if fault.port is not None else 0]
        if KINDS[fault.kind].category == "sensor":
            point = str(params["point"])
            low = self.profile.point(point).range
            sensor = SensorFault(fault, point, float(params.get("share", 1.0)), low[0] if low else 0.0)
            if fault.kind == "sensor_stuck":
                sensor.value = reading(port, point)
            self._sensors.append(sensor)
            return
        if fault.kind == "thermal_runaway_precursor":
            self._smoke_c[port.index] = float(params["smoke_c"])
        self._watches.append(
            apply_hazard(
                port, fault, params, t, self._rng, chemistries=self.params.chemistries, limit_a=self.limit_a
            )
        )

    def _check_watches(self, t: float) -> None:
        keep: list[Watch] = []
        for fault, check in self._watches:
            if check(t):
                self._emit(fault, "critical", t)
                log.info(kv("hazard_critical", device=self.device_id, port=fault.port, kind=fault.kind))
            else:
                keep.append((fault, check))
        self._watches = keep

    # ---- register view ---------------------------------------------------------------------
    def read_points(self) -> PointValues:
        ports = self.ports
        sc, fc = self._state_codes, self._fault_codes
        i_max, p_max, t_lo, t_hi = self._i_max, self._p_max, self._t_lo, self._t_hi
        meter = self.instruments
        per_port: dict[str, list[float]] = {
            "relay_on": [1.0 if p.relay_on else 0.0 for p in ports],
            "state": [sc[p.state] for p in ports],
            "voltage": [p.voltage for p in ports],
            "current": [min(p.current, i_max) for p in ports],
            "power": [min(p.power, p_max) for p in ports],
            "energy": [meter.energy(p.energy_kwh) for p in ports],
            "socket_temp": [min(max(p.socket_read, t_lo), t_hi) for p in ports],
            "fault_code": [fc[p.fault] for p in ports],
            "session_count": [float(p.session_count & 0xFFFF) for p in ports],
            "session_s": [float(int(p.session_s)) for p in ports],
            "meter": [meter.energy(p.meter_kwh) for p in ports],
        }
        for sensor in self._sensors:
            if sensor.value is not None:
                per_port[sensor.point][sensor.port] = sensor.value
        values: dict[str, float | list[float]] = dict(per_port)
        values.update(
            ambient_temp=self.ambient_read,
            total_power=self.total_w,
            supply_voltage=self.supply.volts,
            firmware_version=self.params.firmware_version,
            serial_number=float(self.serial_number),
            heartbeat=float(int(self._elapsed) & 0xFFFF),
            device_clock=float(int(self._t)),
            smoke_alarm=1.0 if self.smoke else 0.0,
            fuse_fault=0.0,
            relay_fault=0.0,
            alarm_reset=0.0,
            temp_cut_c=self.temp_cut_c,
            max_session_s=self.max_session_s,
        )
        return values

    def raw_overrides(self) -> RawOverrides:
        out = {(s.point, s.port): s.raw for s in self._sensors if s.raw is not None}
        return self._no_sensor | out

    def write_point(self, name: str, port: int | None, value: float) -> None:
        point = self.profile.by_name.get(name)
        if point is None or not point.writable:
            raise WriteRefusedError(self.device_id, name, port, "not a writable point")
        if point.per_port != (port is not None) or (port is not None and not 0 <= port < len(self.ports)):
            raise WriteRefusedError(self.device_id, name, port, "wrong or missing port")
        if point.range is not None and not point.plausible(value):
            raise WriteRefusedError(self.device_id, name, port, f"{value} outside {list(point.range)}")
        if name == "relay_on" and port is not None:
            self._set_relay(self.ports[port], bool(value))
        elif name == "alarm_reset" and value:
            for p in self.ports:
                if p.state == "fault" or (p.state == "stopped" and p.relay_on):
                    p.state = "idle"
                if not p.charging:
                    p.fault = "none"
        elif name == "temp_cut_c":
            self.temp_cut_c = value
        elif name == "max_session_s":
            self.max_session_s = value
        log.info(kv("point_written", device=self.device_id, point=name, port=port, value=value))

    def _set_relay(self, port: Port, on: bool) -> None:
        port.relay_on = on
        if not on and port.charging:
            self._end(port, self._t, "stopped", "remote_stop")
        elif on and port.state == "stopped":
            port.state = "idle"

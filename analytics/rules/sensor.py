"""Sensor-fault rules: a reading that is missing, out of range, jumping or stuck.

A port whose temperature sensor is faulty gets a ``sensor_fault`` condition and its
temperature is masked for every thermal rule for ``sensor_hold_s``: a broken sensor is
reported as a broken sensor, never as an overheating port.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import numpy.typing as npt

from analytics.alerts import Condition
from analytics.detectors._math import FloatArray
from analytics.rules.config import RuleConfig

BoolArray = npt.NDArray[np.bool_]
#: per-port columns whose absence is a sensor fault
WATCHED: tuple[str, ...] = ("socket_temp", "current", "power", "voltage")


class SensorRules:
    """Per-port sensor plausibility over one device's columns."""

    KINDS = ("sensor_fault",)

    def __init__(self, ports: int, config: RuleConfig) -> None:
        self.config = config
        self.last_t = np.nan
        self.last_temp = np.full(ports, np.nan)
        self.changed_t = np.full(ports, np.nan)
        self.changed_amb = np.full(ports, np.nan)
        self.changed_power = np.full(ports, np.nan)
        self.bad_until = np.full(ports, -np.inf)

    def evaluate(
        self,
        t: float,
        cols: Mapping[str, FloatArray],
        flags: Mapping[str, str],
        conditions: list[Condition],
        present: Collection[str] = WATCHED,
        *,
        ambient: float = np.nan,
    ) -> BoolArray:
        """Append sensor conditions; return the mask of ports whose temperature is usable.

        Only the columns in ``present`` (those the device model reports) count as missing
        when null; ``socket_temp`` is always required. A reading is stuck when it has not
        moved for ``stuck_s`` under load although what drives it did: the ambient moved by
        ``stuck_ambient_c`` or the port's power by ``stuck_power_w`` since it last changed
        (a coarse sensor on a steady port legitimately repeats itself for hours).
        """
        cfg = self.config
        temp = cols["socket_temp"]
        power = cols["power"]
        dt = t - self.last_t if np.isfinite(self.last_t) else np.inf
        lo, hi = cfg.temp_range_c
        missing = np.isnan(temp)
        out_of_range = ~missing & ((temp < lo) | (temp > hi))
        with np.errstate(invalid="ignore"):
            jump = np.abs(temp - self.last_temp) > cfg.jump_c_per_s * max(dt, 1.0)
        moved = (temp != self.last_temp) | np.isnan(self.changed_t)
        pw = np.nan_to_num(power)
        self.changed_t = np.where(moved, t, self.changed_t)
        self.changed_amb = np.where(moved, ambient, self.changed_amb)
        self.changed_power = np.where(moved, pw, self.changed_power)
        loaded = pw > cfg.loaded_w
        with np.errstate(invalid="ignore"):
            drove = (np.abs(ambient - self.changed_amb) >= cfg.stuck_ambient_c) | (
                np.abs(pw - self.changed_power) >= cfg.stuck_power_w
            )
        stuck = loaded & drove & (t - self.changed_t >= cfg.stuck_s)
        self.last_temp = np.where(missing | out_of_range, self.last_temp, temp)
        self.last_t = t
        fresh = out_of_range | jump | stuck
        self.bad_until = np.where(fresh, t + cfg.sensor_hold_s, self.bad_until)
        bad = missing | fresh | (self.bad_until > t)
        other_missing = np.zeros_like(bad)
        watched = [n for n in WATCHED if n == "socket_temp" or n in present]
        for name in watched[1:]:
            col = cols.get(name)
            if col is not None:
                other_missing |= np.isnan(col)
        for i in np.flatnonzero(bad | other_missing):
            reasons = []
            for name in watched:
                col = cols.get(name)
                if col is not None and np.isnan(col[i]):
                    reasons.append(f"{name} {flags.get(f'{name}[{i}]', 'missing')}")
            if out_of_range[i]:
                reasons.append(f"socket_temp out of range ({temp[i]:.1f} °C)")
            if jump[i]:
                reasons.append("socket_temp jumped implausibly")
            if stuck[i]:
                reasons.append(f"socket_temp stuck at {temp[i]:.1f} °C under load")
            if not reasons:
                reasons.append("socket_temp recently implausible")
            conditions.append(Condition(int(i), "sensor_fault", "warning", "; ".join(reasons)))
        ok: BoolArray = ~bad
        return ok

"""Sensor-fault rules: a reading that is missing, out of range, jumping or stuck.

Every sample of a port is good or bad (a watched reading missing, temperature out of range
or jumping); each verdict stands for the time since the port's previous sample, and the
port keeps the time-weighted share of bad readings (an EWMA with half-life
``sensor_window_s / 2``), so the rule means the same at any poll interval. The
``sensor_fault`` condition starts when that share reaches ``sensor_bad_share``, or at once on
a stuck or out-of-range temperature (held for ``sensor_hold_s``), and ends only when no bad
reading was seen for a whole ``sensor_window_s``: an intermittent sensor (half its samples
garbage) is one steady condition, not one per bad sample. While the condition holds, and on
every bad sample, the port's temperature is masked for every thermal rule: a broken sensor is reported as a
broken sensor, never as an overheating port.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import numpy.typing as npt

from analytics.alerts import Condition
from analytics.detectors._math import FloatArray, Times, decay_alpha_v, per_port
from analytics.rules.config import RuleConfig

BoolArray = npt.NDArray[np.bool_]
#: per-port columns whose absence is a sensor fault
WATCHED: tuple[str, ...] = ("socket_temp", "current", "power", "voltage")


class SensorRules:
    """Per-port sensor plausibility over one device's columns."""

    KINDS = ("sensor_fault",)

    def __init__(self, ports: int, config: RuleConfig) -> None:
        self.config = config
        self.last_t = np.full(ports, np.nan)
        self.last_temp = np.full(ports, np.nan)
        self.changed_t = np.full(ports, np.nan)
        self.changed_amb = np.full(ports, np.nan)
        self.changed_power = np.full(ports, np.nan)
        self.drive_t = np.full(ports, np.nan)
        self.bad_until = np.full(ports, -np.inf)
        #: time-weighted share of bad readings, and when the last bad one was seen
        self.bad_share = np.zeros(ports)
        self.last_bad_t = np.full(ports, -np.inf)
        self.faulty = np.zeros(ports, dtype=bool)

    def evaluate(
        self,
        t: Times,
        cols: Mapping[str, FloatArray],
        flags: Mapping[str, str],
        conditions: list[Condition],
        present: Collection[str] = WATCHED,
        *,
        ambient: float | FloatArray = np.nan,
    ) -> BoolArray:
        """Append sensor conditions; return the mask of ports whose temperature is usable.

        Only the columns in ``present`` (those the device model reports) count as missing
        when null; ``socket_temp`` is always required. A reading is stuck when, under load,
        it has not moved for ``stuck_s`` while what drives it stayed moved: the ambient by
        ``stuck_ambient_c`` or the port's power by ``stuck_power_w`` from where they were when
        the reading last changed (a coarse sensor on a steady port legitimately repeats itself
        for hours, and a one-sample current spike drives nothing). A
        reading pinned at the top of the range is a very hot socket, not a stuck sensor.
        """
        cfg = self.config
        temp = cols["socket_temp"]
        power = cols["power"]
        dt = np.where(np.isnan(self.last_t), np.inf, t - self.last_t)
        stepped = np.where(np.isfinite(dt), np.minimum(dt, cfg.data_gap_s), 0.0)
        lo, hi = cfg.temp_range_c
        missing = np.isnan(temp)
        out_of_range = ~missing & ((temp < lo) | (temp > hi))
        with np.errstate(invalid="ignore"):
            jump = np.abs(temp - self.last_temp) > cfg.jump_c_per_s * np.maximum(dt, 1.0)
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
        self.drive_t = np.where(moved | ~drove, np.nan, np.fmin(self.drive_t, t))
        with np.errstate(invalid="ignore"):
            stuck = loaded & (t - self.drive_t >= cfg.stuck_s) & (temp < hi - 1.0)
        self.last_temp = np.where(missing | out_of_range, self.last_temp, temp)
        self.last_t = per_port(t, temp.shape[0])
        held = out_of_range | stuck
        self.bad_until = np.where(held, t + cfg.sensor_hold_s, self.bad_until)
        other_missing = np.zeros_like(missing)
        watched = [n for n in WATCHED if n == "socket_temp" or n in present]
        for name in watched[1:]:
            col = cols.get(name)
            if col is not None:
                other_missing |= np.isnan(col)
        sample_bad = missing | out_of_range | jump | stuck | other_missing
        a = decay_alpha_v(stepped, cfg.sensor_window_s / 2.0)
        self.bad_share += a * (sample_bad - self.bad_share)
        self.last_bad_t = np.where(sample_bad, t, self.last_bad_t)
        recent = t - self.last_bad_t < cfg.sensor_window_s
        holding = self.bad_until > t
        self.faulty = holding | np.where(self.faulty, recent, self.bad_share >= cfg.sensor_bad_share)
        bad = self.faulty | missing | out_of_range | jump | stuck
        for i in np.flatnonzero(self.faulty):
            reasons = [f"{self.bad_share[i]:.0%} of the last {cfg.sensor_window_s:.0f} s implausible"]
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
            conditions.append(Condition(int(i), "sensor_fault", "warning", "; ".join(reasons)))
        ok: BoolArray = ~bad
        return ok

"""Physical rules of one pile, vectorised over its ports, with hysteresis in value.

Socket temperature (warning/critical, cleared ``temp_hysteresis_c`` below the trip), rate of
rise (smoothed slope, only well above ambient), current above the port limit and sudden
spikes, the thermal-baseline residual (a port heating faster than its load explains, or an
idle port warming steadily against the ambient: heat from the plugged battery), a port much
hotter than its neighbours (the median of its own pile), and smoke. Thermal rules only look
at ports whose sensor is usable (see :mod:`analytics.rules.sensor`). Confirmation over time
is the alert manager's ``for_s``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from analytics.alerts import Condition, Severity
from analytics.detectors import ThermalBank
from analytics.detectors._math import FloatArray, Times, decay_alpha_v, per_port
from analytics.rules.config import RuleConfig
from analytics.rules.sensor import BoolArray

IntArray = npt.NDArray[np.intp]
_TEMP_HALF_LIFE_S = 20.0
_IDLE_STEP_S = 300.0
_SLOPE_HALF_LIFE_S = 60.0


class Groups:
    """Ports laid out as piles: pile ``g`` holds ports ``rows == g``, at column ``cols``."""

    def __init__(self, rows: IntArray, cols: IntArray, piles: int, width: int) -> None:
        self.rows = rows
        self.cols = cols
        self.shape = (piles, width)

    @classmethod
    def single(cls, ports: int) -> Groups:
        """All ``ports`` in one pile."""
        return cls(np.zeros(ports, dtype=np.intp), np.arange(ports), 1, ports)

    @classmethod
    def of_sizes(cls, sizes: list[int]) -> Groups:
        """Consecutive piles of ``sizes`` ports."""
        rows = np.repeat(np.arange(len(sizes)), sizes)
        cols = np.concatenate([np.arange(n) for n in sizes]) if sizes else np.zeros(0, dtype=np.intp)
        return cls(rows, cols, len(sizes), max(sizes, default=0))

    def median(self, values: FloatArray, min_count: int) -> FloatArray:
        """Per port, the median of its pile's non-NaN ``values`` (NaN below ``min_count`` of them)."""
        if self.shape[0] == 1:
            known = values[~np.isnan(values)]
            med = float(np.median(known)) if known.size >= min_count else np.nan
            return np.full(values.shape, med)
        grid = np.full(self.shape, np.nan)
        grid[self.rows, self.cols] = values
        count = np.sum(~np.isnan(grid), axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(grid, axis=1)
        out: FloatArray = np.where(count >= min_count, med, np.nan)[self.rows]
        return out


class PhysicalRules:
    """Thermal and electrical rules of one pile."""

    KINDS = (
        "socket_overtemp",
        "temp_rising_fast",
        "overcurrent",
        "current_spike",
        "thermal_residual",
        "port_hotter_than_neighbours",
        "smoke",
    )

    def __init__(self, ports: int, config: RuleConfig, max_current_a: float | FloatArray) -> None:
        self.config = config
        self.max_current_a = max_current_a
        self.thermal = ThermalBank(ports, warmup_loaded_s=config.residual_warmup_s, gap_s=config.data_gap_s)
        self.temp_level = np.zeros(ports, dtype=np.int8)
        self.rising = np.zeros(ports, dtype=bool)
        self.ema_temp = np.full(ports, np.nan)
        self.slope = np.zeros(ports)
        self.last_t = np.full(ports, np.nan)
        self.spiking = np.zeros(ports, dtype=bool)
        self.idle_since = np.full(ports, np.nan)
        self.load_since = np.full(ports, np.nan)
        self.seen_t = np.full(ports, np.nan)
        self.settled_from = np.full(ports, -np.inf)
        self.ref_x = np.full((ports, 2), np.nan)
        self.ref_t = np.full((ports, 2), -np.inf)

    def _slope(self, t: Times, temp: FloatArray, ok: BoolArray) -> None:
        dt = np.where(np.isnan(self.last_t), 0.0, t - self.last_t)
        prev = self.ema_temp
        ema = np.where(np.isnan(prev), temp, prev + decay_alpha_v(dt, _TEMP_HALF_LIFE_S) * (temp - prev))
        with np.errstate(invalid="ignore", divide="ignore"):
            inst = np.where(dt > 0, (ema - prev) / dt, 0.0)
        a = decay_alpha_v(dt, _SLOPE_HALF_LIFE_S)
        self.slope = np.where(ok, self.slope + a * (np.nan_to_num(inst) - self.slope), 0.0)
        self.ema_temp = np.where(ok, ema, np.nan)
        self.last_t = np.where(ok, t, np.nan)

    def _settled(self, t: Times, power: FloatArray) -> BoolArray:
        """Ports whose residual is judged: not in the first ``residual_settle_s`` of a load or
        after a gap in the data (the fit is loosest in a load's first minutes, and across a
        gap the load filters only guess what happened in between)."""
        cfg = self.config
        loading = power > cfg.loaded_w
        with np.errstate(invalid="ignore"):
            gap = t - self.seen_t > cfg.data_gap_s
        self.seen_t = per_port(t, power.shape[0])
        self.settled_from = np.where(gap, t + cfg.residual_settle_s, self.settled_from)
        self.load_since = np.where(loading, np.fmin(self.load_since, t), np.nan)
        out: BoolArray = (t >= self.settled_from) & (
            ~loading | (t - self.load_since >= cfg.residual_settle_s)
        )
        return out

    def _idle_warming(self, t: Times, gap: FloatArray, power: FloatArray, ok: BoolArray) -> BoolArray:
        """Ports idle for ``idle_after_s`` whose socket−ambient gap keeps rising (two 5-min steps)."""
        cfg = self.config
        idle = ok & (power < cfg.loaded_w)
        self.idle_since = np.where(idle, np.fmin(self.idle_since, t), np.nan)
        roll = t - self.ref_t[:, 0] >= _IDLE_STEP_S
        self.ref_x[roll, 1] = self.ref_x[roll, 0]
        self.ref_t[roll, 1] = self.ref_t[roll, 0]
        self.ref_x[roll, 0] = np.where(idle, gap, np.nan)[roll]
        self.ref_t[roll, 0] = per_port(t, gap.shape[0])[roll]
        with np.errstate(invalid="ignore"):
            long_idle = idle & (t - self.idle_since >= cfg.idle_after_s)
            step = cfg.idle_rise_c / 4
            rising = (gap - self.ref_x[:, 0] > step) & (self.ref_x[:, 0] - self.ref_x[:, 1] > step)
            fast = (gap - self.ref_x[:, 1]) * (2 * _IDLE_STEP_S) / (t - self.ref_t[:, 1]) >= cfg.idle_rise_c
        out: BoolArray = long_idle & rising & fast
        return out

    def evaluate(
        self,
        t: Times,
        cols: Mapping[str, FloatArray],
        ambient: float | FloatArray,
        *,
        smoke: bool,
        temp_ok: BoolArray,
        conditions: list[Condition],
        tripped: BoolArray | None = None,
        groups: Groups | None = None,
    ) -> None:
        """Append the conditions holding at ``t``; ``tripped``: ports the firmware cut on over-current.

        ``groups`` lays the ports out as piles (see :class:`Groups`) when they belong to
        several piles; by default all ports are one pile's. ``ambient`` and the current limit
        are per port or one value for all."""
        cfg = self.config
        temp = np.where(temp_ok, cols["socket_temp"], np.nan)
        current = np.nan_to_num(cols["current"])
        power = np.nan_to_num(cols["power"])
        amb = np.broadcast_to(np.asarray(ambient, dtype=np.float64), temp.shape)
        ok = temp_ok & np.isfinite(amb)
        with np.errstate(invalid="ignore"):
            crit = np.where(
                self.temp_level == 2, temp > cfg.temp_crit_c - cfg.temp_hysteresis_c, temp >= cfg.temp_crit_c
            )
            warn = np.where(
                self.temp_level >= 1, temp > cfg.temp_warn_c - cfg.temp_hysteresis_c, temp >= cfg.temp_warn_c
            )
        self.temp_level = np.where(crit, 2, np.where(warn, 1, 0)).astype(np.int8)
        self._slope(t, temp, ok)
        per_s = cfg.rise_c_per_min / 60.0
        with np.errstate(invalid="ignore"):
            hot = temp - amb >= cfg.rise_min_above_ambient_c
        self.rising = ok & hot & np.where(self.rising, self.slope > per_s / 2, self.slope >= per_s)
        limit = np.broadcast_to(np.asarray(self.max_current_a, dtype=np.float64), temp.shape)
        over = current > limit * cfg.overcurrent_factor
        cut = np.zeros_like(over) if tripped is None else tripped & ~over
        over |= cut
        spike = current > limit * cfg.spike_factor
        self.spiking = spike
        resid = np.full(temp.shape, np.nan)
        if ok.any():
            resid = self.thermal.learn(t, np.where(ok, temp, 0.0), amb, current, power, valid=ok)
        with np.errstate(invalid="ignore"):
            excess = (
                ok
                & self._settled(t, power)
                & (resid >= cfg.residual_min_c)
                & (self.thermal.scores(np.nan_to_num(resid)) >= cfg.residual_score)
            )
        layout = groups or Groups.single(temp.shape[0])
        median = layout.median(np.where(ok, temp, np.nan), cfg.neighbour_min_ports)
        with np.errstate(invalid="ignore"):
            hotter = ok & (temp - median >= cfg.neighbour_delta_c)
        warming = self._idle_warming(t, temp - amb, power, ok)
        flagged = np.flatnonzero((self.temp_level > 0) | self.rising | over | excess | hotter | warming)
        for i in flagged:
            port = int(i)
            if self.temp_level[i]:
                sev: Severity = "critical" if self.temp_level[i] == 2 else "warning"
                conditions.append(Condition(port, "socket_overtemp", sev, f"socket {temp[i]:.1f} °C"))
            if self.rising[i]:
                rate = self.slope[i] * 60.0
                conditions.append(
                    Condition(port, "temp_rising_fast", "warning", f"socket rising {rate:.1f} °C/min")
                )
            if spike[i]:
                conditions.append(Condition(port, "current_spike", "critical", f"current {current[i]:.2f} A"))
            elif cut[i]:
                conditions.append(
                    Condition(port, "overcurrent", "critical", "firmware cut the port on over-current")
                )
            elif over[i]:
                msg = f"current {current[i]:.2f} A > limit {limit[i]:.2f} A"
                conditions.append(Condition(port, "overcurrent", "critical", msg))
            if excess[i]:
                sev = "critical" if resid[i] >= 3 * cfg.residual_min_c else "warning"
                msg = f"socket {resid[i]:.1f} °C hotter than its load explains"
                conditions.append(Condition(port, "thermal_residual", sev, msg))
            if warming[i] and not excess[i]:
                rise = temp[i] - amb[i] - self.ref_x[i, 1]
                msg = f"idle socket warmed {rise:.1f} °C over the ambient with no load: a heating battery?"
                conditions.append(Condition(port, "thermal_residual", "warning", msg))
            if hotter[i]:
                msg = f"socket {temp[i] - median[i]:.1f} °C hotter than neighbours"
                conditions.append(Condition(port, "port_hotter_than_neighbours", "warning", msg))
        if smoke:
            conditions.append(Condition(None, "smoke", "critical", "pile smoke sensor alarm"))

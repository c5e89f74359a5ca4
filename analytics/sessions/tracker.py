"""Charging-curve tracking per port: session boundaries, stage, energy, and curve alerts.

Stage from the AC power relative to the session's peak: constant current (≥ 90 % of peak),
constant voltage (tapering), float (below ``max(float_w, 20 % of peak)``, as pile firmware
treats "full"), judged on a smoothed power that ignores one-sample spikes (median of three). Alerts: a session
that never reaches float (too long, or a taper that stalls well above float), power rising
again after a real float, energy beyond what any e-bike battery takes before float or a
constant-current ramp no e-bike pack shows (oversized or modified battery), power creeping up
faster than a constant-current stage can (``power_creep``: a self-heating battery makes
its charger draw more), and repeated restarts. A port's usual session length (which lengthens
the no-float limit) is learnt only from sessions that ended full without an alert, so
anomalies do not become normal.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
import numpy.typing as npt

from analytics.alerts import Condition
from analytics.detectors._math import FloatArray, Times, decay_alpha_v, per_port
from analytics.rules.sensor import BoolArray
from analytics.sessions.records import SessionRecord
from analytics.sessions.tariff import SLOT_S, SLOTS

CC, CV, FLOAT = 1, 2, 3
_STATE_CHARGING, _STATE_FULL, _STATE_FAULT, _STATE_STOPPED = 1.0, 2.0, 3.0, 4.0
_RESTARTS = 3
_NORM_ALPHA = 0.2
_SMOOTH_HALF_LIFE_S = 60.0
_WARM_S = 600.0
_CC_NEAR = 0.995
_CC_RESET = 0.98
_SETTLE_S = 600.0
#: seconds of constant current that count as one observation in the capacity fit
_CC_OBS_S = 5.0


class SessionConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Session thresholds (firmware conventions from DOMAIN.md)."""

    plugged_w: float = 3.5
    float_w: float = 45.0
    float_frac_of_peak: float = 0.2
    refloat_w: float = 100.0
    no_float_min_s: float = 11 * 3_600.0
    #: a float shorter than this (a firmware cut, a pause) does not arm ``power_after_float``
    refloat_min_float_s: float = 600.0
    #: AC energy no healthy e-bike battery takes before float: the largest pack on the road
    #: (60 V × 32 Ah lead-acid = 1.92 kWh; GB 17761-2018 caps new bikes at 48 V) from empty
    #: through the least efficient charger (80 %)
    oversize_kwh: float = 2.4
    #: battery capacity (AC kWh) no healthy e-bike pack has, judged from the constant-current
    #: ramp: that largest pack with a 10 % margin for the ramp's fit
    oversize_capacity_kwh: float = 2.7
    #: the least a pack's voltage, hence its constant-current power, rises per unit of charge:
    #: a lead-acid cell goes from about 2.10 to 2.35 V in bulk charge, a lithium (NMC) cell from
    #: about 3.6 to 4.1 V (both 12–14 %); the lower 8 % makes the capacity bound conservative.
    #: LFP (flat 3.3 V plateau) is not covered: its ramp is too flat to bound anything
    cc_rise_frac: float = 0.08
    #: seconds of constant current before the capacity estimate is trusted
    capacity_min_s: float = 1_800.0
    #: seconds the capacity bound must stay above ``oversize_capacity_kwh`` before it counts.
    #: The bound is a 3-σ statement re-tested at every poll of every charging port, so some
    #: poll crosses it by chance (a healthy 220 W charge, 0.15 kWh into its ramp, claimed a
    #: ≥ 2.7 kWh pack for one poll: ``eval --train``, seed 1001, normal-winter-3-p1 port 11);
    #: a truly oversized pack's bound only grows as its ramp goes on, so it holds the claim
    capacity_hold_s: float = 600.0
    #: power creep: rise over ``creep_window_s`` above max(creep_w, creep_frac × peak)
    creep_window_s: float = 600.0
    creep_w: float = 15.0
    creep_frac: float = 0.04
    #: taper stall: in the taper above ``stall_frac`` × peak, falling < 1 % of peak per window.
    #: A healthy constant-voltage taper decays exponentially with τ = capacity × (1 − SOC at
    #: CV) / charging power, at most ≈ 3.3 h (a 60 V 32 Ah lead-acid pack from 75 % on a 180 W
    #: charger), so above a quarter of its peak it still falls ≥ 1.25 % per 10 min; a quarter
    #: is just above where firmware calls a port full (``float_frac_of_peak``)
    stall_frac: float = 0.25
    #: a stall at ``stall_frac`` × peak must hold ``stall_s``; higher up, as long as the slowest
    #: healthy taper (τ = ``taper_tau_max_s``, the 3.3 h above) takes to lose as much of the peak
    #: (≥ one ``creep_window_s``): a charger stuck at 60 % of a fast lithium charge forces the pack
    #: 20 % past full in 25–45 min (``eval --train`` 1000–1002: 3 of 30 flagged after that)
    stall_s: float = 1_800.0
    taper_tau_max_s: float = 12_000.0
    #: full sessions a port needs before its usual duration lengthens ``no_float_min_s``.
    #: A port's norm never makes a battery "oversized": the next rider's pack is not the last
    #: one's. Healthy packs span 0.6–1.9 kWh (48 V 12 Ah lithium … 60 V 32 Ah lead-acid) and
    #: arrive 10–60 % charged, so one port's healthy sessions differ by 4–5 × in energy; a
    #: 2.5 × norm flagged a healthy 1.5 kWh charge after five 0.6 kWh ones (``eval --train``,
    #: seed 1000, normal day at 35 h). Oversize is judged by what no e-bike pack takes
    #: (``oversize_kwh``) and by the pack's own constant-current ramp (``oversize_capacity_kwh``)
    norm_min_sessions: int = 5
    restart_window_s: float = 600.0
    #: a charging port silent longer than this ends its session (``data_gap``) and starts anew
    max_gap_s: float = 1_800.0


class SessionTracker:
    """Sessions of the ``ports`` ports of one pile."""

    KINDS = ("session_no_float", "power_after_float", "oversized_battery", "repeated_restarts", "power_creep")

    def __init__(self, device: str, ports: int, config: SessionConfig) -> None:
        #: device and port number of each slot (a tracker may hold the ports of several piles)
        self.names = [device] * ports
        self.local = np.arange(ports)
        self.config = config
        self.active = np.zeros(ports, dtype=bool)
        self.start_t = np.zeros(ports)
        self.last_t = np.zeros(ports)
        self.energy = np.zeros(ports)
        self.peak = np.zeros(ports)
        self.stage = np.zeros(ports, dtype=np.int8)
        self.float_s = np.zeros(ports)
        self.reached_float = np.zeros(ports, dtype=bool)
        self.refloat = np.zeros(ports, dtype=bool)
        self.flagged = np.zeros(ports, dtype=bool)
        self.temp_start = np.full(ports, np.nan)
        self.temp_max = np.full(ports, np.nan)
        self.starts = np.full((ports, _RESTARTS), -np.inf)
        self.norm_n = np.zeros(ports, dtype=np.int64)
        self.norm_log_d = np.zeros(ports)
        self.end_reason: dict[int, str] = {}
        self.smooth = np.zeros(ports)
        #: least squares of power on energy in constant current: n, ΣE, ΣP, ΣE², ΣEP, ΣP²
        self.cc_sums = np.zeros((ports, 6))
        self.cc_max = np.zeros(ports)
        self.cc_reset_t = np.full(ports, -np.inf)
        #: since when the capacity bound has been above the oversize limit (NaN: it is not)
        self.over_since = np.full(ports, np.nan)
        self.last_pw = np.zeros((ports, 2))
        self.med = np.zeros(ports)
        self.step_t = np.full(ports, -np.inf)
        self.ref_p = np.zeros((ports, 2))
        self.ref_t = np.zeros((ports, 2))
        self.stall_since = np.full(ports, np.nan)
        #: energy per UTC quarter hour of the day (time-of-day tariffs) and the pile's own meter
        self.slot_kwh = np.zeros((ports, SLOTS))
        self.meter = np.full(ports, np.nan)

    def _end(self, i: int, state: float) -> SessionRecord:
        if i in self.end_reason:
            reason = self.end_reason.pop(i)
        elif state == _STATE_FAULT:
            reason = "fault"
        elif state == _STATE_STOPPED:
            reason = "stopped"
        elif self.reached_float[i] or self.stage[i] == FLOAT:
            reason = "full"
        else:
            reason = "unplugged"
        duration = float(self.last_t[i] - self.start_t[i])
        energy = float(self.energy[i])
        rise = float(self.temp_max[i] - self.temp_start[i])
        slots = self.slot_kwh[i]
        peak_temp, meter = float(self.temp_max[i]), float(self.meter[i])
        record = SessionRecord(
            device=self.names[i],
            port=int(self.local[i]),
            start=float(self.start_t[i]),
            end=float(self.last_t[i]),
            end_reason=reason,
            energy_kwh=energy,
            duration_s=duration,
            peak_w=float(self.peak[i]),
            float_frac=float(self.float_s[i] / duration) if duration > 0 else 0.0,
            temp_rise_c=rise if math.isfinite(rise) else 0.0,
            peak_temp_c=peak_temp if math.isfinite(peak_temp) else None,
            meter_kwh=meter if math.isfinite(meter) else None,
            slot_kwh={int(k): float(slots[k]) for k in np.flatnonzero(slots)},
        )
        if reason == "full" and not self.flagged[i] and energy > 0 and duration > 0:
            a = max(_NORM_ALPHA, 1.0 / (self.norm_n[i] + 1))
            log_d = math.log(duration)
            self.norm_log_d[i] += a * (log_d - self.norm_log_d[i])
            self.norm_n[i] += 1
        self.active[i] = False
        return record

    def _start(self, idx: npt.NDArray[np.intp], times: FloatArray, temp: FloatArray) -> None:
        t = times[idx]
        self.active[idx] = True
        self.start_t[idx] = t
        self.last_t[idx] = t
        self.energy[idx] = 0.0
        self.peak[idx] = 0.0
        self.stage[idx] = CC
        self.float_s[idx] = 0.0
        self.reached_float[idx] = False
        self.refloat[idx] = False
        self.flagged[idx] = False
        self.temp_start[idx] = temp[idx]
        self.temp_max[idx] = temp[idx]
        self.smooth[idx] = 0.0
        self.cc_sums[idx] = 0.0
        self.cc_max[idx] = 0.0
        self.cc_reset_t[idx] = t
        self.last_pw[idx] = 0.0
        self.step_t[idx] = t
        self.ref_p[idx] = 0.0
        self.ref_t[idx] = t[:, None]
        self.stall_since[idx] = np.nan
        self.slot_kwh[idx] = 0.0
        self.meter[idx] = np.nan
        self.starts[idx] = np.roll(self.starts[idx], 1, axis=1)
        self.starts[idx, 0] = t

    def update(
        self,
        t: Times,
        power: FloatArray,
        temp: FloatArray,
        state: FloatArray | None,
        conditions: list[Condition],
        *,
        spiking: BoolArray | None = None,
        meter: FloatArray | None = None,
    ) -> list[SessionRecord]:
        """Advance every port to ``t``; append curve conditions; return the sessions that ended.

        ``spiking`` marks samples the current rules saw as a spike: they count for energy but
        not for the curve (two spikes a poll apart would pass the median and lift the peak).
        ``meter`` is the pile's own session-energy register (NaN where it has none). A
        charging port silent for more than ``max_gap_s`` ends its session as ``data_gap``
        (energy delivered in the gap is unknown) and starts a new one.
        """
        cfg = self.config
        pw = np.nan_to_num(power)
        if state is None:
            plugged = pw > cfg.plugged_w
            st = np.where(plugged, _STATE_CHARGING, 0.0)
        else:
            st = np.nan_to_num(state)
            plugged = (st == _STATE_CHARGING) | (st == _STATE_FULL)
        times = per_port(t, pw.shape[0])
        gap = self.active & plugged & (times - self.last_t > cfg.max_gap_s)
        for i in np.flatnonzero(gap):
            self.end_reason[int(i)] = "data_gap"
        ended = [self._end(int(i), float(st[i])) for i in np.flatnonzero(self.active & (~plugged | gap))]
        new = np.flatnonzero(plugged & ~self.active)
        if new.size:
            self._start(new, times, temp)
        on = self.active
        dt = np.where(on, t - self.last_t, 0.0)
        step = pw * dt / 3.6e6
        self.energy += step
        fed = np.flatnonzero(step > 0)
        mid = times[fed] - dt[fed] / 2  # a poll interval counts in the quarter hour of its middle
        self.slot_kwh[fed, (mid % 86_400 // SLOT_S).astype(np.intp)] += step[fed]
        if meter is not None:
            self.meter = np.where(on & np.isfinite(meter), meter, self.meter)
        self.last_t = np.where(on, t, self.last_t)
        sm = self._smooth(pw if spiking is None else np.where(spiking, self.last_pw[:, 1], pw), dt, on)
        self.peak = np.where(on, np.maximum(self.peak, sm), self.peak)
        self.temp_max = np.where(on, np.fmax(self.temp_max, temp), self.temp_max)
        floor = np.maximum(cfg.float_w, cfg.float_frac_of_peak * self.peak)
        in_float = on & (self.peak > 2 * cfg.float_w) & (sm < floor)
        self.stage = np.where(
            on, np.where(in_float, FLOAT, np.where(sm >= 0.9 * self.peak, CC, CV)), 0
        ).astype(np.int8)
        self.float_s += np.where(in_float, dt, 0.0)
        self.reached_float |= in_float | (on & (st == _STATE_FULL))  # or the pile says so
        armed = self.float_s >= cfg.refloat_min_float_s
        self.refloat = (
            on
            & armed
            & np.where(self.refloat, sm > cfg.float_w, sm > np.maximum(cfg.refloat_w, 0.5 * self.peak))
        )
        duration = t - self.start_t
        typical_d = np.exp(self.norm_log_d)
        known = on & (self.norm_n >= cfg.norm_min_sessions)
        capacity = self._capacity(t, pw, dt, on)
        above = capacity > cfg.oversize_capacity_kwh
        self.over_since = np.where(above, np.fmin(self.over_since, t), np.nan)
        held = above & (t - self.over_since >= cfg.capacity_hold_s)
        oversized = (on & ~self.reached_float & (self.energy > cfg.oversize_kwh)) | held
        no_float_limit = np.where(known, np.maximum(cfg.no_float_min_s, 2 * typical_d), cfg.no_float_min_s)
        no_float = on & ~self.reached_float & (duration > no_float_limit) & (pw > cfg.float_w)
        creep, stalled = self._trend(t, sm, on, duration, dt)
        no_float |= stalled
        restarts = (t - self.starts[:, -1]) <= cfg.restart_window_s
        flagged = np.flatnonzero(oversized | no_float | self.refloat | restarts | creep)
        self.flagged[flagged] = True
        for i in flagged:
            port = int(i)
            if no_float[i]:
                msg = f"no float after {duration[i] / 3_600:.1f} h at {pw[i]:.0f} W"
                if stalled[i]:
                    msg += f" (taper stalled at {sm[i] / self.peak[i]:.0%} of peak)"
                conditions.append(Condition(port, "session_no_float", "warning", msg))
            if creep[i]:
                rise, mins = sm[i] - self.ref_p[i, 1], (times[i] - self.ref_t[i, 1]) / 60
                msg = f"power crept up {rise:.0f} W in {mins:.0f} min: battery self-heating?"
                conditions.append(Condition(port, "power_creep", "critical", msg))
            if self.refloat[i]:
                conditions.append(
                    Condition(
                        port, "power_after_float", "warning", f"power back to {pw[i]:.0f} W after float"
                    )
                )
            if oversized[i]:
                msg = f"{self.energy[i]:.2f} kWh / {duration[i] / 3_600:.1f} h"
                if held[i]:
                    msg += f"; constant-current ramp says pack ≥ {capacity[i]:.1f} kWh"
                conditions.append(Condition(port, "oversized_battery", "warning", msg))
            if restarts[i]:
                conditions.append(
                    Condition(
                        port,
                        "repeated_restarts",
                        "warning",
                        f"{_RESTARTS} session starts within {cfg.restart_window_s:.0f} s",
                    )
                )
        return ended

    def _smooth(self, pw: FloatArray, dt: FloatArray, on: BoolArray) -> FloatArray:
        """Session power: median of the last three samples (drops one-sample spikes), then EWMA."""
        last = self.last_pw
        med = np.maximum(
            np.minimum(last[:, 0], last[:, 1]), np.minimum(np.maximum(last[:, 0], last[:, 1]), pw)
        )
        self.last_pw = np.stack([last[:, 1], pw], axis=1)
        prev = self.smooth
        fresh = on & (prev <= 0.0)
        a = decay_alpha_v(dt, _SMOOTH_HALF_LIFE_S)
        sm = np.where(fresh, pw, np.where(on, prev + a * (med - prev), 0.0))
        self.smooth = sm
        self.med = med
        return sm

    def _capacity(self, t: Times, pw: FloatArray, dt: FloatArray, on: BoolArray) -> FloatArray:
        """Lower bound of the pack's capacity (AC kWh) from the constant-current ramp; 0 if unknown.

        In constant current the power rises with the pack voltage, by ``cc_rise_frac`` from
        empty to full, so the slope of power over delivered energy is
        ``cc_rise_frac × power / capacity``; the slope's upper 3-σ bound gives the bound. Only
        samples within 0.5 % of the highest power since the last drop count (constant-current
        power only rises), so the start of the taper never flattens the ramp; a drop of 2 %
        (the taper, a new battery) starts the fit afresh once the power has settled. A
        ramp that is not clearly rising (a charger regulating power flat) gives no verdict.
        Each sample weighs its seconds over ``_CC_OBS_S`` in the fit, so the fit and its σ mean
        the same at any poll rate (more polls of one smoothed curve are not more evidence).
        """
        cfg = self.config
        sm = self.smooth
        self.cc_reset_t = np.where(on & (sm < _CC_RESET * self.cc_max), t, self.cc_reset_t)
        settling = t - self.cc_reset_t < _SETTLE_S
        self.cc_sums[settling] = 0.0
        self.cc_max = np.where(settling, sm, np.maximum(self.cc_max, sm))
        cc = on & ~settling & (sm >= _CC_NEAR * self.cc_max) & (pw > cfg.float_w)
        e, p = self.energy, self.med
        w = np.minimum(dt, cfg.max_gap_s) / _CC_OBS_S
        self.cc_sums += np.where(
            cc[:, None], w[:, None] * np.stack([np.ones_like(e), e, p, e * e, e * p, p * p], axis=1), 0.0
        )
        n, se, sp, see, sep, spp = self.cc_sums.T
        with np.errstate(invalid="ignore", divide="ignore"):
            sxx = see - se * se / n
            sxy = sep - se * sp / n
            slope = sxy / sxx
            resid = np.maximum(spp - sp * sp / n - slope * sxy, 0.0) / np.maximum(n - 2, 1)
            sigma = 3.0 * np.sqrt(resid / sxx)
            upper = slope + sigma
            bound = cfg.cc_rise_frac * (sp / n) / upper
            rising = (slope > sigma) & (slope * (e - se / n) > 1e-3 * sp / n)
        ready = cc & (n * _CC_OBS_S >= cfg.capacity_min_s) & (sxx > 0)
        out: FloatArray = np.where(ready & rising, bound, 0.0)
        return out

    def _trend(
        self, t: Times, sm: FloatArray, on: BoolArray, duration: FloatArray, dt: FloatArray
    ) -> tuple[BoolArray, BoolArray]:
        """Power creep and taper stall over the last one to two ``creep_window_s``.

        Creep must rise in both halves of the span with no step in the power for a window (a
        gradual climb, not one step back up, which is ``power_after_float``). After a gap in
        the data (a pile that stopped answering) the trend starts afresh: the power before the
        gap says nothing about how it moved during it."""
        cfg = self.config
        gap = on & (dt > cfg.creep_window_s / 4)
        if gap.any():
            now = per_port(t, sm.shape[0])
            self.ref_p[gap] = sm[gap, None]
            self.ref_t[gap] = now[gap, None]
            self.step_t[gap] = now[gap]
        roll = on & (t - self.ref_t[:, 0] >= cfg.creep_window_s / 2)
        self.ref_p[roll, 1] = self.ref_p[roll, 0]
        self.ref_t[roll, 1] = self.ref_t[roll, 0]
        self.ref_p[roll, 0] = sm[roll]
        self.ref_t[roll, 0] = per_port(t, sm.shape[0])[roll]
        span = t - self.ref_t[:, 1]
        ready = on & (duration >= _WARM_S + cfg.creep_window_s) & (span >= cfg.creep_window_s / 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            rise = (sm - self.ref_p[:, 1]) * cfg.creep_window_s / span
        need = np.maximum(cfg.creep_w, cfg.creep_frac * self.peak)
        steady = (sm - self.ref_p[:, 0] > need / 4) & (self.ref_p[:, 0] - self.ref_p[:, 1] > need / 4)
        self.step_t = np.where(on & (np.abs(self.med - sm) > need / 2), t, self.step_t)
        calm = t - self.step_t >= cfg.creep_window_s
        creep = ready & steady & calm & (rise > need)
        flat = ready & (self.stage == CV) & (sm >= cfg.stall_frac * self.peak) & (rise > -0.01 * self.peak)
        self.stall_since = np.where(flat, np.fmin(self.stall_since, t), np.nan)
        stalled = flat & (t - self.stall_since >= self._stall_hold(sm))
        return creep, stalled

    def _stall_hold(self, sm: FloatArray) -> FloatArray:
        """Seconds a stall at ``sm`` must hold: a healthy taper at share r of its peak falls
        r × (1 − exp(−h/τ)) of the peak in h s; h makes that the fall at ``stall_frac`` in ``stall_s``."""
        cfg = self.config
        tau = cfg.taper_tau_max_s
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.clip(cfg.stall_frac * -math.expm1(-cfg.stall_s / tau) * self.peak / sm, 0.0, 1.0)
            hold = -tau * np.log1p(-share)
        out: FloatArray = np.maximum(np.where(np.isfinite(hold), hold, np.inf), cfg.creep_window_s)
        return out

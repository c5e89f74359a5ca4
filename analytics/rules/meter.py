"""Current spikes between polls, seen by the port's energy meter.

A poll every few seconds sees a one-second current spike only by luck, but the port's session
energy register integrates every second of it. Per port the rule compares the register's
increase with the energy the sampled power explains (trapezoid between polls) and keeps the
unexplained excess in a leaky sum (half-life ``meter_half_life_s``). Polls at a session start
or end, across a register reset, after a gap longer than ``data_gap_s`` (the sampled
power says nothing about the load in between), or with a sampled spike (already reported)
are skipped.

A real meter is not the current sensor: its gain is off by up to ``meter_gain_tol`` (±3 %: an
uncalibrated metering channel; IEC 62053-21 class 1 is ±1 %) and its register counts whole
steps. So each port learns its meter's gain, metered over sampled energy as a ratio of leaky
sums (half-life ``meter_gain_half_life_s`` of usable time), only while its excess stays well
below the alarm (a spiking port does not teach its spikes as gain). The excess is taken
against the learnt gain, and the alarm allows for what is not yet known about it: the gain's
uncertainty (``meter_gain_tol`` until the port or, failing that, the median of its pile's
other ports has learnt; then the register step over the energy learnt, plus
``meter_gain_floor``) times the energy that flowed in the excess window. Above
``meter_excess_wh`` beyond that allowance the port gets a ``current_spike`` condition.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from analytics.alerts import Condition
from analytics.detectors._math import FloatArray, Times, decay_alpha_v, per_port
from analytics.rules.config import RuleConfig
from analytics.rules.physical import Groups
from analytics.rules.sensor import BoolArray

_WH_PER_KWH = 1000.0
#: learnt sampled energy (Wh) before a port's own gain replaces its pile's
_LEARNT_WH = 100.0


class MeterRules:
    """Energy-meter cross-check of the ports of one or many piles."""

    KINDS = ("current_spike",)

    def __init__(self, ports: int, config: RuleConfig) -> None:
        self.config = config
        self.last_t = np.full(ports, np.nan)
        self.last_energy = np.full(ports, np.nan)
        self.last_power = np.full(ports, np.nan)
        self.excess_wh = np.zeros(ports)
        #: sampled energy in the excess window (same leak)
        self.flow_wh = np.zeros(ports)
        #: leaky sums of metered and sampled energy the gain is learnt from
        self.gain_metered = np.zeros(ports)
        self.gain_sampled = np.zeros(ports)

    def gains(
        self, groups: Groups | None = None, needed: BoolArray | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Per port the meter gain in use and its uncertainty (relative); a port that has not
        learnt its own takes its pile's median where ``needed`` (all ports by default)."""
        cfg = self.config
        tol = cfg.meter_gain_tol
        learnt = self.gain_sampled >= _LEARNT_WH
        with np.errstate(invalid="ignore", divide="ignore"):
            own = np.clip(self.gain_metered / self.gain_sampled, 1.0 - tol, 1.0 + tol)
            own_u = np.minimum(tol, cfg.meter_gain_floor + 2.0 * cfg.meter_max_step_wh / self.gain_sampled)
        gain = np.where(learnt, own, 1.0)
        unc = np.where(learnt, own_u, tol)
        borrow = ~learnt if needed is None else ~learnt & needed
        if groups is not None and borrow.any() and learnt.any():
            pile = groups.median(np.where(learnt, own, np.nan), 2)
            known = borrow & np.isfinite(pile)
            gain = np.where(known, pile, gain)
            unc = np.where(known, np.minimum(tol, 2.0 * cfg.meter_gain_floor), unc)
        return gain, unc

    def evaluate(
        self,
        t: Times,
        cols: Mapping[str, FloatArray],
        spiking: BoolArray,
        conditions: list[Condition],
        groups: Groups | None = None,
    ) -> None:
        """Append a condition for every port whose meter ran well ahead of its sampled power.

        ``groups`` lays the ports out as piles (a port that has not learnt its meter yet
        borrows its pile's median gain)."""
        cfg = self.config
        energy = cols.get("energy")
        if energy is None:
            return
        power = cols["power"]
        dt = t - self.last_t
        sampled = (self.last_power + power) / 2.0 * dt / 3_600.0
        metered = (energy - self.last_energy) * _WH_PER_KWH
        loaded = (power > cfg.loaded_w) & (self.last_power > cfg.loaded_w)
        with np.errstate(invalid="ignore"):
            usable = loaded & ~spiking & (metered >= 0.0) & (dt > 0.0) & (dt <= cfg.data_gap_s)
        step = np.nan_to_num(dt)
        keep = 1.0 - decay_alpha_v(step, cfg.meter_half_life_s)
        gain, unc = self.gains(groups, usable)
        unexplained = np.where(usable, metered - gain * sampled, 0.0)
        self.excess_wh = np.nan_to_num(self.excess_wh * keep + unexplained)
        self.flow_wh = np.nan_to_num(self.flow_wh * keep + np.where(usable, sampled, 0.0))
        alarm = self.excess_wh - unc * self.flow_wh
        learn = usable & (alarm < cfg.meter_excess_wh / 2.0)
        hold = np.where(learn, 1.0 - decay_alpha_v(step, cfg.meter_gain_half_life_s), 1.0)
        self.gain_metered = self.gain_metered * hold + np.where(learn, metered, 0.0)
        self.gain_sampled = self.gain_sampled * hold + np.where(learn, sampled, 0.0)
        self.last_t = per_port(t, power.shape[0])
        self.last_energy = energy
        self.last_power = np.where(spiking, np.nan, power)
        for i in np.flatnonzero(alarm >= cfg.meter_excess_wh):
            ahead = self.excess_wh[i]
            msg = (
                f"meter ran {ahead:.1f} Wh ahead of the sampled power (meter gain {gain[i]:.3f}): "
                "current spikes between polls"
            )
            conditions.append(Condition(int(i), "current_spike", "critical", msg))

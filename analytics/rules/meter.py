"""Current spikes between polls, seen by the port's energy meter.

A poll every few seconds sees a one-second current spike only by luck, but the port's session
energy register integrates every second of it. Per port the rule compares the register's
increase with the energy the sampled power explains (trapezoid between polls) and keeps the
unexplained excess in a leaky sum (half-life ``meter_half_life_s``). Polls at a session start
or end, across a register reset, after a gap longer than ``data_gap_s`` (the sampled
power says nothing about the load in between), or with a sampled spike (already reported)
are skipped.
Above ``meter_excess_wh`` the port gets a ``current_spike`` condition.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from analytics.alerts import Condition
from analytics.detectors._math import FloatArray, Times, decay_alpha_v, per_port
from analytics.rules.config import RuleConfig
from analytics.rules.sensor import BoolArray

_WH_PER_KWH = 1000.0


class MeterRules:
    """Energy-meter cross-check of the ports of one or many piles."""

    KINDS = ("current_spike",)

    def __init__(self, ports: int, config: RuleConfig) -> None:
        self.config = config
        self.last_t = np.full(ports, np.nan)
        self.last_energy = np.full(ports, np.nan)
        self.last_power = np.full(ports, np.nan)
        self.excess_wh = np.zeros(ports)

    def evaluate(
        self, t: Times, cols: Mapping[str, FloatArray], spiking: BoolArray, conditions: list[Condition]
    ) -> None:
        """Append a condition for every port whose meter ran well ahead of its sampled power."""
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
        keep = 1.0 - decay_alpha_v(np.nan_to_num(dt), cfg.meter_half_life_s)
        self.excess_wh = np.where(usable, self.excess_wh * keep + (metered - sampled), self.excess_wh * keep)
        self.excess_wh = np.nan_to_num(self.excess_wh)
        self.last_t = per_port(t, power.shape[0])
        self.last_energy = energy
        self.last_power = np.where(spiking, np.nan, power)
        for i in np.flatnonzero(self.excess_wh >= cfg.meter_excess_wh):
            ahead = self.excess_wh[i]
            msg = f"meter ran {ahead:.1f} Wh ahead of the sampled power: current spikes between polls"
            conditions.append(Condition(int(i), "current_spike", "critical", msg))

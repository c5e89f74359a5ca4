"""One charging port of a pile: its true physical state and its per-step physics.

Everything here is ground truth (tests and labels read it); what the firmware reports is
built from it by :class:`firmware_sim.devices.pile.Pile`.
"""

from __future__ import annotations

import math
import random
from collections import deque

from firmware_sim.physics.charger import Charger
from firmware_sim.physics.thermal import (
    COUPLING_W_PER_K,
    battery_step,
    socket_heat_w,
    socket_step,
    socket_target,
)

#: resistance of the feed from the pile's bus bar to the socket (voltage drop under load)
_LINE_OHM = 0.15
#: relative noise of the current measurement
_CURRENT_NOISE = 0.003
#: spikes are single samples at least this far apart (a burst would be a short)
_SPIKE_GAP_S = 5.0
#: share of a battery's self-heating that is the Joule heat of an internal short fed by the
#: charge (the rest is chemical: SEI and electrolyte decomposition, Feng et al. 2018); a
#: modelling choice, not a measurement
_SHORT_SHARE = 0.5


class Port:
    """True state of one port: relay, session bookkeeping, plugged battery, temperatures, faults."""

    __slots__ = (
        "battery_c",
        "blk_e",
        "blk_t",
        "blocks",
        "charger",
        "contact_ohm",
        "contact_ohm0",
        "coupling_w_per_k",
        "current",
        "dc_wh",
        "energy_kwh",
        "fault",
        "hazard_hold",
        "index",
        "low_s",
        "meter_kwh",
        "oc_s",
        "overheat",
        "peak_w",
        "plug_at",
        "power",
        "relay_on",
        "self_heat",
        "self_heat_w",
        "session_count",
        "session_s",
        "short_a",
        "socket_c",
        "socket_k_per_w",
        "socket_read",
        "spike",
        "spiking",
        "state",
        "unplug_at",
        "voltage",
    )

    def __init__(
        self,
        index: int,
        socket_c: float,
        contact_ohm: float,
        socket_k_per_w: float,
        coupling_w_per_k: float = COUPLING_W_PER_K,
    ) -> None:
        self.index = index
        self.socket_k_per_w = socket_k_per_w
        self.coupling_w_per_k = coupling_w_per_k
        self.relay_on = True
        #: canonical state label: idle, charging, full, fault, stopped
        self.state = "idle"
        #: canonical fault label of the current or last session ("none" if it ended normally)
        self.fault = "none"
        self.charger: Charger | None = None
        self.unplug_at = math.inf
        #: a swapped-in bike's session starts no earlier than this (the rider is still plugging)
        self.plug_at = -math.inf
        self.session_count = 0
        self.session_s = 0.0
        self.energy_kwh = 0.0
        self.dc_wh = 0.0
        self.meter_kwh = 0.0
        self.voltage = 0.0
        self.current = 0.0
        self.power = 0.0
        self.peak_w = 0.0
        self.low_s = 0.0
        self.oc_s = 0.0
        self.blk_e = 0.0
        self.blk_t = 0.0
        self.blocks: deque[float] = deque(maxlen=5)
        self.socket_c = socket_c
        self.socket_read = socket_c
        self.battery_c = socket_c
        self.contact_ohm = contact_ohm
        self.contact_ohm0 = contact_ohm
        #: connector fault: (onset t, doubling s, max ohm, plateau °C or 0) or None (not wearing)
        self.overheat: tuple[float, float, float, float] | None = None
        #: battery self-heating fault: (onset t, q0 W, growth s, max W) or None
        self.self_heat: tuple[float, float, float, float] | None = None
        self.self_heat_w = 0.0
        #: intermittent spikes: (spike current A, mean interval s, next spike t) or None
        self.spike: tuple[float, float, float] | None = None
        self.spiking = False
        self.short_a = 0.0
        #: a hazard fault keeps the bike plugged (the rider does not come back in time)
        self.hazard_hold = False

    @property
    def charging(self) -> bool:
        """True while a session is running (port output live)."""
        return self.state == "charging"

    def start_session(self) -> None:
        """Firmware closes the output: a new session with fresh counters."""
        self.state = "charging"
        self.fault = "none"
        self.session_count += 1
        self.session_s = 0.0
        self.energy_kwh = 0.0
        self.dc_wh = 0.0
        self.peak_w = 0.0
        self.low_s = 0.0
        self.oc_s = 0.0
        self.blk_e = 0.0
        self.blk_t = 0.0
        self.blocks.clear()

    def end_session(self, state: str, fault: str) -> None:
        """Firmware opens the output: the session ends with ``state`` and ``fault`` labels."""
        self.state = state
        self.fault = fault
        self.voltage = self.current = self.power = 0.0

    def advance(
        self,
        t: float,
        dt: float,
        *,
        supply_v: float,
        cabinet_c: float,
        ambient_c: float,
        socket_factor: float,
        battery_factor: float,
        rng: random.Random,
    ) -> None:
        """Physics of one step: load, energy, contact resistance, self-heating, temperatures.

        ``socket_read`` (what the socket sensor converts) is set by the pile's instruments.
        """
        if self.overheat is not None:
            t0, doubling, max_ohm, _ = self.overheat
            self.contact_ohm = min(max_ohm, self.contact_ohm0 * 2.0 ** ((t - t0) / doubling))
        charger = self.charger
        heat_b = 0.0
        if self.self_heat is not None and charger is not None:
            t0, q0, growth, max_w = self.self_heat
            self.self_heat_w = min(max_w, q0 * math.exp((t - t0) / growth))
            heat_b = self.self_heat_w
            charger.leak_w = _SHORT_SHARE * self.self_heat_w
        if self.state == "charging":
            volts = supply_v - _LINE_OHM * self.current
            if self.short_a > 0.0:
                amps = self.short_a
            else:
                load = 0.0
                if charger is not None:
                    load = charger.ac_power()
                    heat_b += charger.charge(load, dt)
                    self.dc_wh += load * charger.efficiency * dt / 3600.0
                amps = load / volts * (1.0 + rng.gauss(0.0, _CURRENT_NOISE)) if load > 0.0 else 0.0
                self.spiking = False
                if self.spike is not None and t >= self.spike[2] and amps > 0.0:
                    spike_a, every, _ = self.spike
                    self.spike = (spike_a, every, t + _SPIKE_GAP_S + rng.expovariate(1.0 / every))
                    amps = spike_a
                    self.spiking = True
            self.voltage = volts
            self.current = amps
            power = volts * amps
            self.power = power
            self.energy_kwh += power * dt / 3.6e6
            self.meter_kwh += power * dt / 3.6e6
            self.session_s += dt
            self.peak_w = max(self.peak_w, power)
        if charger is not None:
            self.battery_c = battery_step(self.battery_c, ambient_c, heat_b, battery_factor)
            coupled = self.battery_c
        else:
            coupled = self.socket_c
        heat_s = socket_heat_w(self.current, self.contact_ohm, self.power)
        if self.overheat is not None and self.overheat[3] > 0.0:
            settle = socket_target(
                self.socket_c,
                cabinet_c,
                heat_s,
                coupled,
                k_per_w=self.socket_k_per_w,
                coupling_w_per_k=self.coupling_w_per_k,
            )
            if settle >= self.overheat[3]:
                self.overheat = None
        self.socket_c = socket_step(
            self.socket_c,
            cabinet_c,
            heat_s,
            coupled,
            socket_factor,
            k_per_w=self.socket_k_per_w,
            coupling_w_per_k=self.coupling_w_per_k,
        )

    def average_w(self, dt: float) -> float | None:
        """Feed the 5-minute power average (1-minute blocks); the average when a block closes."""
        self.blk_e += self.power * dt
        self.blk_t += dt
        if self.blk_t < 60.0:
            return None
        self.blocks.append(self.blk_e / self.blk_t)
        self.blk_e = self.blk_t = 0.0
        if len(self.blocks) < 5:
            return None
        return sum(self.blocks) / 5.0

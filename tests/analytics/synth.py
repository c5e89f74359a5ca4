"""Synthetic signals that mimic DOMAIN.md's physics, shared by the analytics tests."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

T0 = 1_750_000_000.0 - (1_750_000_000.0 % 86_400.0)


def summer_ambient(t: float) -> float:
    """A hot day: 28 °C at 04:00, 40 °C at 16:00."""
    hour = (t % 86_400.0) / 3_600.0
    return 34.0 - 6.0 * math.cos(2 * math.pi * (hour - 4.0) / 24.0)


@dataclass
class Port:
    """First-order socket thermal model driven by I²R and load heating, cooling to ambient."""

    contact_ohm: float = 0.02
    watt_gain: float = 0.004
    tau_s: float = 420.0
    temp: float = 30.0

    def step(self, dt: float, current: float, power: float, ambient: float) -> float:
        target = ambient + current * current * self.contact_ohm * 40.0 + power * self.watt_gain
        self.temp += (target - self.temp) * (1.0 - math.exp(-dt / self.tau_s))
        return self.temp


def lead_acid_power(elapsed_s: float, rated_w: float = 400.0) -> float:
    """Three stages: CC for 3 h, CV taper for 2 h, then float at ~20 W."""
    if elapsed_s < 3 * 3_600:
        return rated_w
    if elapsed_s < 5 * 3_600:
        frac = (elapsed_s - 3 * 3_600) / (2 * 3_600)
        return rated_w * (1.0 - frac) + 60.0 * frac
    return 20.0


def lithium_power(elapsed_s: float, rated_w: float = 300.0) -> float:
    """CC for 2.5 h, CV taper for 1 h, then cut-off (0 W)."""
    if elapsed_s < 2.5 * 3_600:
        return rated_w
    if elapsed_s < 3.5 * 3_600:
        return rated_w * math.exp(-3.0 * (elapsed_s - 2.5 * 3_600) / 3_600)
    return 0.0


def charging_day(
    seed: int, start: float = T0, days: float = 1.0, dt: float = 10.0, chemistry: str = "lead_acid"
) -> Iterator[tuple[float, float, float, float, float]]:
    """(t, socket_temp, ambient, current, power) of one port: a session every 8 h, noise, 0.1 °C steps."""
    rng = random.Random(seed)
    port = Port(contact_ohm=0.015 + 0.01 * rng.random())
    curve = lead_acid_power if chemistry == "lead_acid" else lithium_power
    t = start
    while t < start + days * 86_400:
        elapsed = (t - start) % (8 * 3_600)
        power = curve(elapsed) * (1.0 + rng.gauss(0, 0.01)) if elapsed < 7 * 3_600 else 0.0
        current = power / 220.0
        ambient = summer_ambient(t)
        temp = port.step(dt, current, power, ambient) + rng.gauss(0, 0.05)
        yield t, round(temp, 1), round(ambient, 1), current, power
        t += dt

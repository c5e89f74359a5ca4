"""Builders for physics tests: quiet piles (no random arrivals) and explicit batteries."""

from __future__ import annotations

import random

import msgspec

from chargewatch.profiles import DeviceProfile, find_profile
from firmware_sim.devices import Blocker, Pile, create_device
from firmware_sim.physics import Charger, Chemistry, draw_charger

#: 2025-07-15 10:00 at UTC+8
T0 = 1_752_544_800.0


def quiet_pile(model: str = "cw-pile-10", *, profile: DeviceProfile | None = None, **params: object) -> Pile:
    """A pile with no arrivals and no bikes at the start unless ``params`` say otherwise."""
    base: dict[str, object] = {"plug_rate_per_h": 0.0, "initial_occupancy": 0.0, "early_unplug_share": 0.0}
    base.update(params)
    device = create_device("pile-t", profile or find_profile(model), base, 11, T0)
    assert isinstance(device, Pile)
    return device


def blocker(**params: object) -> Blocker:
    base: dict[str, object] = {"ebike_rate_per_h": 0.0, "false_rate_per_h": 0.0}
    base.update(params)
    device = create_device("blocker-t", find_profile("cw-blocker"), base, 11, T0)
    assert isinstance(device, Blocker)
    return device


def with_limits(model: str, **limits: float) -> DeviceProfile:
    """The shipped profile of ``model`` with some limits replaced."""
    profile = find_profile(model)
    return msgspec.structs.replace(profile, limits={**profile.limits, **limits})


def plug(pile: Pile, port: int, chemistry: Chemistry, *, soc: float = 0.3, watts: float = 400.0) -> Charger:
    """Plug a battery of ``chemistry`` whose charger draws about ``watts``; it starts next step."""
    charger = draw_charger(random.Random(port), chemistry, min_w=watts, max_w=watts, soc=soc)
    charger.rated_w = watts
    pile.ports[port].charger = charger
    return charger


def advance(device: Pile | Blocker, seconds: float, dt: float = 1.0) -> None:
    """Step ``device`` forward by ``seconds`` of simulated time."""
    for _ in range(round(seconds / dt)):
        device.step(device.now + dt, dt)


def port_values(pile: Pile, name: str, port: int) -> float:
    values = pile.read_points()[name]
    assert isinstance(values, list)
    return values[port]


def code(pile: Pile, point: str, label: str) -> float:
    """The vendor code of ``label`` in ``point``'s values map."""
    values = pile.profile.point(point).values or {}
    return float(next(c for c, name in values.items() if name == label))


def device_value(device: Pile | Blocker, name: str) -> float:
    value = device.read_points()[name]
    assert isinstance(value, float)
    return value

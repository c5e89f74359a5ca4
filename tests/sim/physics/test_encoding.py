"""Everything a model reports fits its real profile's registers, faults and all; cost per port-step."""

from __future__ import annotations

import pytest

from firmware_sim.devices import Blocker, Pile
from firmware_sim.faults import KINDS, Fault
from tests.sim.physics.helpers import T0, advance, blocker, quiet_pile


def _all_points_encode(device: Pile | Blocker) -> int:
    values = device.read_points()
    checked = 0
    for point, port, _ in device.profile.instances():
        value = values[point.name]
        v = value[port] if isinstance(value, list) and port is not None else value
        assert isinstance(v, float), point.name
        words = point.encode(v)
        assert len(words) == point.width
        assert point.decode(words) == pytest.approx(v, abs=abs(point.scale) / 2 + 1e-3 * abs(v)), point.name
        checked += 1
    assert set(values) >= set(device.profile.by_name)
    return checked


@pytest.mark.parametrize("model", ["cw-pile-10", "vx-pile-12"])
def test_every_pile_point_encodes_with_every_port_fault_active(model: str) -> None:
    pile = quiet_pile(model, ambient="summer", temp_cut_c=0.0, initial_occupancy=0.5, plug_rate_per_h=1.0)
    port_kinds = [k for k, spec in KINDS.items() if spec.target == "pile_port"]
    for i, kind in enumerate(port_kinds):
        pile.inject(Fault(kind=kind, at=T0 + 60 * i, port=i))
    for _ in range(24):
        advance(pile, 600, dt=2.0)
        assert _all_points_encode(pile) == len(pile.profile.instances())


def test_every_blocker_point_encodes() -> None:
    device = blocker(ebike_rate_per_h=20.0, false_rate_per_h=5.0)
    device.inject(Fault(kind="blocker_relay_stuck", at=T0 + 3600))
    for _ in range(48):
        advance(device, 300)
        _all_points_encode(device)

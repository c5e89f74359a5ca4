"""Simulated devices behind the :class:`firmware_sim.model.DeviceModel` seam: piles and blockers."""

from __future__ import annotations

from collections.abc import Mapping

from chargewatch.profiles import DeviceProfile
from firmware_sim.devices._faulting import device_rng
from firmware_sim.devices.blocker import BLOCKER_POINTS, Blocker
from firmware_sim.devices.params import BlockerParams, PileParams, blocker_params, pile_params
from firmware_sim.devices.pile import FAULT_LABELS, PILE_POINTS, STATE_LABELS, Pile
from firmware_sim.devices.port import Port

__all__ = [
    "BLOCKER_POINTS",
    "FAULT_LABELS",
    "PILE_POINTS",
    "STATE_LABELS",
    "Blocker",
    "BlockerParams",
    "Pile",
    "PileParams",
    "Port",
    "create_device",
    "device_rng",
]


def create_device(
    device_id: str, profile: DeviceProfile, params: Mapping[str, object], seed: int, start_time: float
) -> Pile | Blocker:
    """A simulated device for ``profile.kind``; ``params`` validated (ConfigError names the key).

    The result satisfies :class:`firmware_sim.model.DeviceModel` and also offers
    ``inject(fault)``, ``drain_labels()`` and ground truth (``Pile.ports[i]``, ``Blocker`` fields).
    """
    if profile.kind == "pile":
        return Pile(device_id, profile, pile_params(device_id, params), seed, start_time)
    return Blocker(device_id, profile, blocker_params(device_id, params), seed, start_time)

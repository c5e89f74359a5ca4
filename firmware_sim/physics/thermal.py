"""First-order thermal models of a port socket and of the battery on charge.

Socket: heated by I²·R_contact at the contact, by a share of the load power in the cable
and terminal block, and by conduction from a hot battery; relaxes towards the cabinet air
with time constant ``SOCKET_TAU_S``. Battery: heated by charging losses and any internal
self-heating (fault), relaxes towards the outdoor air with ``BATTERY_TAU_S``. Updates use the
exact exponential step, so any ``dt`` is stable; accuracy is best for ``dt ≤ 10 s``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Final

SOCKET_TAU_S: Final = 600.0
#: typical thermal resistance socket → cabinet air; each port varies around it (position, wear)
SOCKET_K_PER_W: Final = 8.0
#: share of the port's AC power that heats the socket (cable, terminals, relay)
LOAD_HEAT_SHARE: Final = 0.0015
#: conduction from the battery/charger to the socket (W per K of difference)
COUPLING_W_PER_K: Final = 0.03
BATTERY_TAU_S: Final = 2400.0
BATTERY_K_PER_W: Final = 0.8
#: cabinet air warms above outdoor air with the pile's total power, with the cabinet's lag (its
#: air and metal smooth a one-second current spike away instead of jumping with it)
CABINET_K_PER_W: Final = 0.0005
CABINET_TAU_S: Final = 900.0
#: the physical hazard level of a socket (ground-truth "critical" of connector faults)
SOCKET_CRITICAL_C: Final = 90.0
#: lithium self-heating runaway onset (ground-truth "critical" of battery heating faults)
BATTERY_CRITICAL_C: Final = 80.0


@lru_cache(maxsize=64)
def relax_factor(dt: float, tau: float) -> float:
    """Fraction of the gap to equilibrium closed in ``dt`` by a first-order lag ``tau``."""
    return 1.0 - math.exp(-dt / tau)


def socket_heat_w(current_a: float, contact_ohm: float, power_w: float) -> float:
    """Heat (W) dissipated at the socket by the load."""
    return current_a * current_a * contact_ohm + LOAD_HEAT_SHARE * power_w


def socket_target(
    socket_c: float, cabinet_c: float, heat_w: float, battery_c: float, *, k_per_w: float
) -> float:
    """The temperature the socket relaxes towards with this heat and these neighbours."""
    return cabinet_c + k_per_w * (heat_w + COUPLING_W_PER_K * (battery_c - socket_c))


def socket_step(
    socket_c: float, cabinet_c: float, heat_w: float, battery_c: float, factor: float, *, k_per_w: float
) -> float:
    """Socket temperature after one step; ``factor`` = ``relax_factor(dt, SOCKET_TAU_S)``,
    ``k_per_w`` the socket's thermal resistance to the cabinet air (about ``SOCKET_K_PER_W``)."""
    target = socket_target(socket_c, cabinet_c, heat_w, battery_c, k_per_w=k_per_w)
    return socket_c + (target - socket_c) * factor


def battery_step(battery_c: float, ambient_c: float, heat_w: float, factor: float) -> float:
    """Battery temperature after one step; ``factor`` = ``relax_factor(dt, BATTERY_TAU_S)``."""
    return battery_c + (ambient_c + BATTERY_K_PER_W * heat_w - battery_c) * factor

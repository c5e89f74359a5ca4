"""First-order thermal models of a port socket and of the battery on charge.

Socket: heated by I²·R_contact at the contact, by a share of the load power in the cable
and terminal block, and by conduction from a hot battery; relaxes towards the cabinet air
with time constant ``SOCKET_TAU_S``. Battery: heated by charging losses and any internal
self-heating (fault), relaxes towards the outdoor air with ``BATTERY_TAU_S``. Updates use the
exact exponential step, so any ``dt`` is stable; accuracy is best for ``dt ≤ 10 s``.

Where the numbers come from (none is a measurement of a real pile; each is an estimate that
a reviewer can redo):

* Contact heat I²·R: the physics of a loaded contact (Holm, *Electric Contacts*, 4th ed.,
  1967; Braunović, Konchits & Myshkin, *Electrical Contacts*, CRC 2007). A healthy plug and
  socket pair has a few milliohms per contact; the pile draws 5–50 mΩ per port (two contacts
  in series, older ones worse).
* Socket thermal resistance 8 K/W (×0.75–1.4 per port) and time constant 600 s: a socket
  and terminal block of a few tens of grams of brass and plastic behind a cabinet panel; at
  the rated 10 A through 20 mΩ (2 W) it gives a 16 K rise, inside IEC 60884-1's 45 K limit
  for terminals.
* ``LOAD_HEAT_SHARE`` 0.15 %: relay contact (≈ 5 mΩ) plus 2 m of 2.5 mm² copper (≈ 14 mΩ
  out and back) at 4.5 A is ≈ 0.4 W per kW; the rest is terminals. An upper estimate.
* Battery: an e-bike pack of 3–10 kg (heat capacity ≈ 1 kJ/kg·K, Bernardi et al. 1985 for
  the energy balance) losing heat by natural convection (5–10 W/m²·K over ≈ 0.2–0.5 m²):
  τ ≈ 2,400 s and 0.8 K/W.
* Battery → socket coupling (``COUPLING_W_PER_K``, per pile ``battery_coupling_w_per_k``):
  the *least* certain number here. On an open pile only the charger's lead joins battery
  and socket: two 0.75 mm² copper cores over 1.5 m conduct ≈ 0.0005 W/K, nothing a socket
  sensor could see. In a charging locker the battery sits in the compartment beside the
  socket and its sensor: convective exchange of a few square centimetres, ≈ 0.03 W/K. The
  default is the locker case; ``chargewatch eval`` draws every pile between the two, so a
  detector cannot lean on a path an open pile does not have.
* Cabinet air: 0.5 K per kW of pile load with a 15-minute lag (a ventilated steel cabinet).
* Critical levels: a socket at 90 °C (thermoplastics of sockets soften from ≈ 100 °C; the
  firmware cuts of DOMAIN.md sit at 60–80 °C); lithium self-heating onset at 80 °C (Feng et
  al. 2018, "Thermal runaway mechanism of lithium ion battery for electric vehicles: a
  review", Energy Storage Materials 10: SEI decomposition starts at 80–120 °C).
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
#: battery → socket conductance (W/K) in a charging locker; ≈ 0.0005 on an open pile (see above)
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
    socket_c: float,
    cabinet_c: float,
    heat_w: float,
    battery_c: float,
    *,
    k_per_w: float,
    coupling_w_per_k: float = COUPLING_W_PER_K,
) -> float:
    """The temperature the socket relaxes towards with this heat and these neighbours."""
    return cabinet_c + k_per_w * (heat_w + coupling_w_per_k * (battery_c - socket_c))


def socket_step(
    socket_c: float,
    cabinet_c: float,
    heat_w: float,
    battery_c: float,
    factor: float,
    *,
    k_per_w: float,
    coupling_w_per_k: float = COUPLING_W_PER_K,
) -> float:
    """Socket temperature after one step; ``factor`` = ``relax_factor(dt, SOCKET_TAU_S)``,
    ``k_per_w`` the socket's thermal resistance to the cabinet air (about ``SOCKET_K_PER_W``),
    ``coupling_w_per_k`` the battery → socket conductance."""
    target = socket_target(
        socket_c, cabinet_c, heat_w, battery_c, k_per_w=k_per_w, coupling_w_per_k=coupling_w_per_k
    )
    return socket_c + (target - socket_c) * factor


def battery_step(battery_c: float, ambient_c: float, heat_w: float, factor: float) -> float:
    """Battery temperature after one step; ``factor`` = ``relax_factor(dt, BATTERY_TAU_S)``."""
    return battery_c + (ambient_c + BATTERY_K_PER_W * heat_w - battery_c) * factor

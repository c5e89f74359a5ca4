"""Which alerts a fault explains: the only rules by which an alert is credited to a fault.

An alert is credited to a fault episode (as a *detection* before the hazard's critical moment,
or as *explained* — not false — while the fault is active) only when all of these hold:

1. **Same device.**
2. **Same place.** A port alert is credited only to a fault on that very port; a device-wide
   alert (``port`` None) only to a device-wide fault (a silent pile, a blocker fault). No
   physical path from one port's fault to another port's alert is modelled and tested, so
   none is credited: a pile-wide alert never detects a port's fault, and an alert on port 3
   never detects a fault on port 4.
3. **A kind the fault physically causes** (:data:`EXPLAINS`):

   * ``connector_overheat`` — a worn contact dissipates I²·R at the socket: the socket
     temperature alerts (:data:`OVERHEATING`).
   * ``thermal_runaway_precursor`` — a battery heating itself warms the socket through the
     plug (:data:`OVERHEATING`); a charger holding a self-heating battery at its CV voltage
     must keep feeding the heat, so the current never tapers to float or rises after it and
     creeps up (:data:`CURVE`, ``power_creep``; DOMAIN.md, "What an early warning can see");
     ``battery_self_heating`` (:mod:`analytics.rules.selfheat`) is those two paths judged
     directly: the charger's current climbing back up its constant-voltage taper to feed an
     internal short, or the socket warming with no load from the battery plugged into it.
   * ``overcharge`` — a charge that never tapers: the curve alerts, and the gassing heat
     warms the socket.
   * ``oversized_battery`` — a battery larger than its charger was made for: the curve alerts.
   * ``overcurrent_spike`` — the current alerts. ``short`` — the current alerts, and the
     contact it runs through heats.
   * sensor faults — ``sensor_fault``; a silent pile or blocker — ``device_offline``;
     a dead blocker camera — its camera alert or the detection drought it causes; a stuck
     blocker relay — its relay alert or the held door.

The one device-wide alert credited to a port fault is in :data:`DEVICE_WIDE_EXPLAINS`:
the pile's cabinet smoke sensor (``smoke``) is *explained* (not false) while a battery heats
itself towards runaway on any of its ports — the simulator raises the pile's smoke alarm when
such a battery passes its ``smoke_c`` (tested in ``tests/sim``). It is never a *detection*:
smoke follows the runaway, it does not warn of it.
"""

from __future__ import annotations

from typing import Final

OVERHEATING: Final = frozenset(
    {"socket_overtemp", "temp_rising_fast", "thermal_residual", "port_hotter_than_neighbours"}
)
CURVE: Final = frozenset({"session_no_float", "power_after_float", "oversized_battery"})
CURRENT: Final = frozenset({"overcurrent", "current_spike"})
#: fault kind → alert kinds (on the fault's own port, or device-wide for a device fault) it causes
EXPLAINS: Final[dict[str, frozenset[str]]] = {
    "connector_overheat": OVERHEATING,
    "thermal_runaway_precursor": OVERHEATING | CURVE | {"power_creep", "battery_self_heating"},
    "overcharge": OVERHEATING | CURVE,
    "oversized_battery": CURVE,
    "overcurrent_spike": CURRENT,
    "short": CURRENT | OVERHEATING,
    "sensor_stuck": frozenset({"sensor_fault"}),
    "sensor_dropout": frozenset({"sensor_fault"}),
    "sensor_garbage": frozenset({"sensor_fault"}),
    "pile_unresponsive": frozenset({"device_offline"}),
    "blocker_camera_fault": frozenset({"blocker_camera_fault", "blocker_no_detections"}),
    "blocker_relay_stuck": frozenset({"blocker_relay_stuck", "blocker_door_held"}),
    "blocker_offline": frozenset({"device_offline"}),
}
#: port fault kind → device-wide alert kinds it explains (never detects); path documented above
DEVICE_WIDE_EXPLAINS: Final[dict[str, frozenset[str]]] = {
    "thermal_runaway_precursor": frozenset({"smoke"}),
}


Place = tuple[str, int | None]


def detects(kind: str, fault_at: Place, alert_kind: str, alert_at: Place) -> bool:
    """Rules 1–3: can an alert of ``alert_kind`` at ``alert_at`` detect a ``kind`` fault at ``fault_at``?"""
    return alert_at == fault_at and alert_kind in EXPLAINS[kind]


def explains(kind: str, fault_at: Place, alert_kind: str, alert_at: Place) -> bool:
    """:func:`detects`, or the documented device-wide consequence (:data:`DEVICE_WIDE_EXPLAINS`)."""
    if detects(kind, fault_at, alert_kind, alert_at):
        return True
    device, port = alert_at
    return (
        port is None and device == fault_at[0] and alert_kind in DEVICE_WIDE_EXPLAINS.get(kind, frozenset())
    )

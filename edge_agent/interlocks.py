"""Local safety interlocks: rules over each decoded poll that switch a port's relay off.

Rules (thresholds from the ``interlocks:`` config section, limits from the profile):
``socket_temp`` at or above ``critical_socket_temp_c`` for ``confirm_samples`` consecutive
polls; the pile's ``smoke_alarm`` (every port whose relay is on); ``current`` above the
profile's ``port_max_current_a`` for ``over_current_samples`` consecutive polls. A flagged
(None) reading neither confirms nor resets a count. The agent acts on each :class:`Trip`
through the bus coordinator and records an ``interlock`` event in the outbox — nothing here
touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass

from chargewatch.profiles import DeviceProfile
from edge_agent.config import InterlockConfig
from edge_agent.modbus.decode import Decoded

RELAY_POINT = "relay_on"


@dataclass(frozen=True, slots=True)
class Trip:
    """Switch ``port`` off because ``rule`` saw ``value`` (limit ``limit``)."""

    port: int
    rule: str
    value: float
    limit: float


class DeviceInterlocks:
    """Per-device rule state; feed every poll to :meth:`evaluate`."""

    def __init__(self, cfg: InterlockConfig, profile: DeviceProfile) -> None:
        self.cfg = cfg
        names = profile.by_name
        self.active = cfg.enabled and profile.kind == "pile" and RELAY_POINT in names
        self._ports = profile.ports
        self._temp_n = [0] * profile.ports
        self._amp_n = [0] * profile.ports
        self._max_a = profile.limits.get("port_max_current_a")
        self._has_smoke = "smoke_alarm" in names

    def evaluate(self, d: Decoded) -> list[Trip]:
        """Ports to switch off now; a port whose relay already reads off is not tripped again."""
        if not self.active:
            return []
        trips: dict[int, Trip] = {}
        cfg = self.cfg
        temps = d.ports.get("socket_temp")
        amps = d.ports.get("current")
        relays = d.ports.get(RELAY_POINT)
        smoke = d.values.get("smoke_alarm") if self._has_smoke and cfg.smoke else None
        for i in range(self._ports):
            t = temps[i] if temps is not None else None
            if t is not None:
                self._temp_n[i] = self._temp_n[i] + 1 if t >= cfg.critical_socket_temp_c else 0
                if self._temp_n[i] >= cfg.confirm_samples:
                    trips[i] = Trip(i, "socket_temp", t, cfg.critical_socket_temp_c)
            a = amps[i] if amps is not None else None
            if a is not None and self._max_a is not None and cfg.over_current:
                self._amp_n[i] = self._amp_n[i] + 1 if a > self._max_a else 0
                if self._amp_n[i] >= cfg.over_current_samples and i not in trips:
                    trips[i] = Trip(i, "over_current", a, self._max_a)
            if smoke and i not in trips:
                trips[i] = Trip(i, "smoke", 1.0, 1.0)
        return [t for t in trips.values() if relays is None or relays[t.port] != 0.0]

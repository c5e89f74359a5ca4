"""Charging-session records (the ``session`` measurement); fees come from :mod:`.tariff`."""

from __future__ import annotations

import msgspec

#: why a session ended: from the port state and fault code when it ended, or an agent interlock
END_REASONS = (
    "full",
    "unplugged",
    "stopped",
    "interlock",
    "fault",
    "over_temperature",
    "over_current",
    "timeout",
    "smoke",
    "over_voltage",
    "under_voltage",
    "pile_overload",
    "data_gap",
)


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One finished charging session of one port (``port`` as on the wire: 0-based)."""

    device: str
    port: int
    start: float
    end: float
    end_reason: str
    #: energy integrated from the port's power samples
    energy_kwh: float
    duration_s: float
    peak_w: float
    float_frac: float
    temp_rise_c: float
    peak_temp_c: float | None = None
    #: the pile's own session energy register at the last sample, when its model meters it
    meter_kwh: float | None = None
    #: integrated energy per UTC quarter hour of the day (index → kWh), for time-of-day tariffs
    slot_kwh: dict[int, float] = msgspec.field(default_factory=dict)

    @property
    def billed_kwh(self) -> float:
        """The energy billed: the pile's meter when it has one, else the integrated power."""
        return self.meter_kwh if self.meter_kwh is not None else self.energy_kwh

    @property
    def avg_w(self) -> float:
        return self.energy_kwh * 3.6e6 / self.duration_s if self.duration_s > 0 else 0.0

"""The fixed-threshold baseline a vendor would ship: socket ≥ 80 °C held for 30 s.

It sees the same decoded telemetry as the pipeline (a ``None`` reading breaks the hold) and
records, per (device, port), the times at which it fired; the evaluation compares our first
alert with its first firing after a fault's onset.
"""

from __future__ import annotations

from chargewatch.messages import Telemetry

FIXED_C = 80.0
FIXED_HOLD_S = 30.0


class FixedThreshold:
    """Fire when a port's ``socket_temp`` stays ≥ ``limit_c`` for ``hold_s``; re-arm below it."""

    def __init__(self, limit_c: float = FIXED_C, hold_s: float = FIXED_HOLD_S) -> None:
        self.limit_c = limit_c
        self.hold_s = hold_s
        self._since: dict[tuple[str, int], float] = {}
        self._fired: set[tuple[str, int]] = set()
        self.firings: dict[tuple[str, int], list[float]] = {}

    def observe(self, msg: Telemetry) -> None:
        """Advance with one telemetry message."""
        temps = msg.ports.get("socket_temp")
        if temps is None:
            return
        for port, temp in enumerate(temps):
            key = (msg.device, port)
            if temp is None or not temp >= self.limit_c:
                self._since.pop(key, None)
                self._fired.discard(key)
                continue
            since = self._since.setdefault(key, msg.ts)
            if key not in self._fired and msg.ts - since >= self.hold_s - 1e-9:
                self._fired.add(key)
                self.firings.setdefault(key, []).append(msg.ts)

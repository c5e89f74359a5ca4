"""Raw block registers → one telemetry payload per device poll, per the device profile.

Per-port points become columns (``ports[name][i]``), device points go to ``values``. Port
states are mapped to the canonical codes of :data:`chargewatch.messages.PORT_STATES` through
the profile's ``values`` labels. Anything that is not a plausible reading — a failed read,
NaN/Inf, a value outside the point's range, a code the profile does not define, a raw value the
profile declares a "no sensor" sentinel (``invalid``, flag ``no_sensor``) — becomes ``None``
with a reason in ``flags`` under ``name`` or ``name[port]``; never a guessed value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chargewatch.messages import PORT_STATES
from chargewatch.profiles import DeviceProfile
from edge_agent.modbus.planner import Block

STATE_POINT = "state"


@dataclass(slots=True)
class Decoded:
    """The decoded content of one poll, shaped like :class:`chargewatch.messages.Telemetry`."""

    ports: dict[str, list[float | None]] = field(default_factory=dict)
    values: dict[str, float | None] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)

    def port_value(self, name: str, port: int) -> float | None:
        """Value of per-port point ``name`` at ``port``, None when missing or flagged."""
        column = self.ports.get(name)
        return None if column is None else column[port]


@dataclass(frozen=True, slots=True)
class _Step:
    block: int
    offset: int
    width: int
    name: str
    port: int | None
    key: str
    decode: Callable[[Sequence[int]], float]
    low: float
    high: float
    codes: dict[int, float] | None
    raw_int: Callable[[Sequence[int]], int]
    invalid: frozenset[int]


def _codes(profile: DeviceProfile, name: str, labels: dict[int, str] | None) -> dict[int, float] | None:
    if labels is None:
        return None
    if name == STATE_POINT:
        return {raw: float(PORT_STATES[label]) for raw, label in labels.items() if label in PORT_STATES}
    return {raw: float(raw) for raw in labels}


class DeviceDecoder:
    """Decodes the blocks planned for one profile; build once per model, reuse every poll."""

    def __init__(self, profile: DeviceProfile, blocks: Sequence[Block]) -> None:
        self.profile = profile
        self.blocks = tuple(blocks)
        steps: list[_Step] = []
        for b, block in enumerate(self.blocks):
            for slot in block.slots:
                p = slot.point
                key = p.name if slot.port is None else f"{p.name}[{slot.port}]"
                low, high = p.range if p.range is not None else (-math.inf, math.inf)
                steps.append(
                    _Step(
                        b,
                        slot.offset,
                        p.width,
                        p.name,
                        slot.port,
                        key,
                        p.decode,
                        low,
                        high,
                        _codes(profile, p.name, p.values),
                        p.raw_int,
                        frozenset(p.invalid or ()),
                    )
                )
        self._steps = tuple(steps)
        self._port_names = tuple(p.name for p in profile.port_points)
        self._ports = profile.ports

    def decode(self, data: Sequence[Sequence[int] | None]) -> Decoded:
        """Decode one poll; ``data[i]`` holds block i's registers or None when its read failed."""
        if len(data) != len(self.blocks):
            raise ValueError(f"{self.profile.model}: got {len(data)} blocks, planned {len(self.blocks)}")
        ports: dict[str, list[float | None]] = {n: [None] * self._ports for n in self._port_names}
        values: dict[str, float | None] = {}
        flags: dict[str, str] = {}
        for s in self._steps:
            regs = data[s.block]
            value: float | None
            if regs is None:
                value = None
                flags[s.key] = "read_failed"
            elif s.invalid and s.raw_int(regs[s.offset : s.offset + s.width]) in s.invalid:
                value = None
                flags[s.key] = "no_sensor"
            else:
                raw = s.decode(regs[s.offset : s.offset + s.width])
                if s.codes is not None:
                    value = s.codes.get(int(raw)) if raw.is_integer() else None
                    if value is None:
                        flags[s.key] = "unknown_code"
                elif not math.isfinite(raw):
                    value = None
                    flags[s.key] = "not_finite"
                elif raw < s.low or raw > s.high:
                    value = None
                    flags[s.key] = "out_of_range"
                else:
                    value = raw
            if s.port is None:
                values[s.name] = value
            else:
                ports[s.name][s.port] = value
        return Decoded(ports, values, flags)

"""The seam between device physics and the Modbus serving layer.

A :class:`DeviceModel` is advanced in fixed simulation steps and read as engineering
values per profile point; the serving layer encodes those into registers and routes
Modbus writes back through :meth:`DeviceModel.write_point`. Models know nothing about
Modbus framing or sockets; the serving layer knows nothing about physics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from chargewatch.errors import ChargeWatchError
from chargewatch.profiles import DeviceProfile

#: point name → value (device points) or one value per port (per-port points)
PointValues = Mapping[str, float | list[float]]
#: (point name, port or None) → raw registers/bits that replace the encoded value (sensor garbage)
RawOverrides = Mapping[tuple[str, int | None], list[int]]


class WriteRefusedError(ChargeWatchError):
    """A Modbus write the device firmware rejects (not writable, out of range)."""

    def __init__(self, device: str, point: str, port: int | None, reason: str) -> None:
        where = f"{point}[{port}]" if port is not None else point
        super().__init__(f"device {device}: write to {where} refused: {reason}")
        self.device = device
        self.point = point
        self.port = port
        self.reason = reason


class DeviceModel(Protocol):
    """A simulated pile or blocker."""

    @property
    def device_id(self) -> str: ...

    @property
    def profile(self) -> DeviceProfile: ...

    @property
    def responding(self) -> bool:
        """False while a fault makes the device stop answering on its bus."""
        ...

    def step(self, t: float, dt: float) -> None:
        """Advance physics and firmware by ``dt`` seconds to simulation time ``t`` (epoch s)."""
        ...

    def read_points(self) -> PointValues:
        """Current value of every profile point, as the firmware would expose it."""
        ...

    def raw_overrides(self) -> RawOverrides:
        """Registers that a sensor fault currently fills with garbage instead of a value."""
        ...

    def write_point(self, name: str, port: int | None, value: float) -> None:
        """A Modbus client wrote ``value`` to a writable point; raise WriteRefusedError to reject it."""
        ...

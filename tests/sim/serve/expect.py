"""What a Modbus client must read: the model's own state, encoded with the contract codec."""

from __future__ import annotations

from firmware_sim.model import DeviceModel


def point_value(model: DeviceModel, name: str, port: int | None = None) -> float:
    """The engineering value the model currently exposes for one point instance."""
    value = model.read_points()[name]
    if isinstance(value, list):
        assert port is not None
        return value[port]
    return value


def expected_words(model: DeviceModel, table: str, size: int) -> list[int]:
    """``table`` (0..size) as ``Point.encode`` of ``read_points()`` plus raw overrides; gaps 0."""
    values = model.read_points()
    overrides = model.raw_overrides()
    words = [0] * size
    for point, port, addr in model.profile.instances():
        if point.table != table:
            continue
        raw = overrides.get((point.name, port))
        if raw is None:
            v = values[point.name]
            scalar = v[port] if isinstance(v, list) and port is not None else v
            assert isinstance(scalar, float | int), (point.name, port, scalar)
            raw = point.encode(scalar)
        words[addr : addr + point.width] = raw
    return words

"""A deterministic stand-in DeviceModel: every point moves each step, writes are remembered.

Used at the ``firmware_sim.model.DeviceModel`` seam by the unit tests of the serving layer,
so they exercise every register type and word order without depending on the physics.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chargewatch.profiles import DeviceProfile, Point
from firmware_sim.model import PointValues, RawOverrides, WriteRefusedError

REFUSED_TEMP_CUT_C = 120.0  # the fake firmware refuses cuts above this (profile range allows 150)


def quantised(point: Point, value: float) -> float:
    """``value`` rounded to what the register can carry exactly."""
    if point.type == "bool":
        return 1.0 if value else 0.0
    return round((value - point.offset) / point.scale) * point.scale + point.offset


def _value(point: Point, port: int | None, step: int, seed: int) -> float:
    if point.type == "bool":
        return float((step + (port or 0) + seed) % 2)
    lo, hi = point.range or (0.0, 500.0)
    k = (seed * 31 + step * 7 + (port or 0) * 13 + len(point.name) * 3) % 97
    return quantised(point, lo + (hi - lo) * k / 97)


class FakeModel:
    """Implements :class:`firmware_sim.model.DeviceModel` with arithmetic instead of physics."""

    def __init__(self, device_id: str, profile: DeviceProfile, seed: int, start_time: float) -> None:
        self._id = device_id
        self._profile = profile
        self.seed = seed
        self.t = start_time
        self.step_count = 0
        self.responding = True
        self.written: dict[tuple[str, int | None], float] = {}
        self.overrides: dict[tuple[str, int | None], list[int]] = {}

    @property
    def device_id(self) -> str:
        return self._id

    @property
    def profile(self) -> DeviceProfile:
        return self._profile

    def step(self, t: float, dt: float) -> None:
        assert dt > 0
        assert t > self.t
        self.t = t
        self.step_count += 1

    def value(self, name: str, port: int | None) -> float:
        """The engineering value this model holds for one point instance."""
        if (name, port) in self.written:
            return self.written[(name, port)]
        return _value(self._profile.point(name), port, self.step_count, self.seed)

    def read_points(self) -> PointValues:
        out: dict[str, float | list[float]] = {}
        for p in self._profile.points:
            if p.per_port:
                out[p.name] = [self.value(p.name, i) for i in range(self._profile.ports)]
            else:
                out[p.name] = self.value(p.name, None)
        return out

    def raw_overrides(self) -> RawOverrides:
        return self.overrides

    def write_point(self, name: str, port: int | None, value: float) -> None:
        if name == "temp_cut_c" and value > REFUSED_TEMP_CUT_C:
            raise WriteRefusedError(self._id, name, port, f"{value} above {REFUSED_TEMP_CUT_C}")
        self.written[(name, port)] = value


def fake_factory(
    device_id: str, profile: DeviceProfile, params: Mapping[str, object], seed: int, start_time: float
) -> FakeModel:
    """Same signature as ``firmware_sim.devices.create_device``."""
    assert isinstance(params, Mapping)
    return FakeModel(device_id, profile, seed, start_time)


def write_site(path: Path, devices: str, *, seed: int = 7) -> Path:
    """A site file with the given ``devices:`` YAML block."""
    path.write_text(
        f"site: test-site\nstart_time: 2025-07-01T08:00:00+08:00\nseed: {seed}\nambient: summer\n"
        f"devices:\n{devices}"
    )
    return path

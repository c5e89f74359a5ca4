"""Scenario files: devices, start time, duration, ambient preset and faults with onsets.

YAML or JSON (by suffix). Validated once on load: unknown keys rejected, ids checked, every
fault checked against its device's profile (kind fits the device, port exists, params known).
Device ``params`` are validated by ``create_device`` when the run builds its devices.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from chargewatch.configfile import decode_file
from chargewatch.errors import ConfigError
from chargewatch.profiles import find_profile
from firmware_sim.faults.kinds import Fault, FaultError, ParamValue, resolve
from firmware_sim.physics.ambient import AmbientPreset

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class DeviceSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One simulated device: id, profile model, model params (see ``PileParams``/``BlockerParams``)."""

    id: str
    model: str
    params: dict[str, Any] = msgspec.field(default_factory=dict)


class FaultSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A fault of a scenario: starts ``onset_s`` seconds after the scenario's start."""

    device: str
    kind: str
    onset_s: float
    port: int | None = None
    params: dict[str, ParamValue] = msgspec.field(default_factory=dict)

    def fault(self, start_time: float) -> Fault:
        """The fault with an absolute onset time."""
        return Fault(kind=self.kind, at=start_time + self.onset_s, port=self.port, params=dict(self.params))


class Scenario(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A simulated run: what devices, from when, how long, how hot, and which faults when."""

    start_time: float
    duration_s: float
    devices: list[DeviceSpec]
    name: str = "scenario"
    step_s: float = 1.0
    ambient: AmbientPreset = "mild"
    faults: list[FaultSpec] = msgspec.field(default_factory=list)


def validate_scenario(scenario: Scenario, path: Path | str = "<scenario>") -> Scenario:
    """Cross-field checks of a scenario; ConfigError names the file, the key and the fix."""
    if not scenario.duration_s > 0:
        raise ConfigError(f"{path}: duration_s: must be > 0. Fix: give the run length in seconds")
    if not 0 < scenario.step_s <= 60:
        raise ConfigError(f"{path}: step_s: must be in (0, 60]. Fix: use 1.0")
    kinds: dict[str, tuple[str, int]] = {}
    for i, dev in enumerate(scenario.devices):
        key = f"devices[{i}]"
        if not _ID_RE.match(dev.id):
            raise ConfigError(
                f"{path}: {key}.id: {dev.id!r} is not a valid id. Fix: use [A-Za-z0-9_-]{{1,64}}"
            )
        if dev.id in kinds:
            raise ConfigError(
                f"{path}: {key}.id: duplicate device {dev.id!r}. Fix: give each device its own id"
            )
        try:
            profile = find_profile(dev.model)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {key}.model: {exc}") from exc
        kinds[dev.id] = (profile.kind, profile.ports)
    for i, spec in enumerate(scenario.faults):
        key = f"faults[{i}]"
        if spec.device not in kinds:
            raise ConfigError(
                f"{path}: {key}.device: no device {spec.device!r}. Fix: use one of {sorted(kinds)}"
            )
        if not 0 <= spec.onset_s <= scenario.duration_s:
            raise ConfigError(
                f"{path}: {key}.onset_s: {spec.onset_s} is outside the run. Fix: use 0..{scenario.duration_s}"
            )
        kind, ports = kinds[spec.device]
        try:
            resolve(spec.fault(scenario.start_time), spec.device, kind, ports)
        except FaultError as exc:
            raise ConfigError(f"{path}: {key}: {exc}. Fix: see firmware_sim.faults.KINDS") from exc
    return scenario


def load_scenario(path: Path | str) -> Scenario:
    """Load and validate a scenario file (``.yaml``/``.yml`` or ``.json``)."""
    scenario = decode_file(path, Scenario, "scenario", "firmware_sim.offline.suite()")
    return validate_scenario(scenario, path)

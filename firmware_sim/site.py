"""Site files (``configs/sites/<name>.yaml``): which devices one simulator process serves, and where.

Validated once on load: unknown keys are rejected and every error names the file, the key
and the fix. Devices that share an endpoint (one serial line, or one TCP port of a
serial-to-Ethernet gateway) form one bus with distinct unit ids; a TCP device with port 0
gets a bus of its own on a port the OS chooses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from chargewatch.configfile import decode_file
from chargewatch.errors import ConfigError
from chargewatch.profiles import DeviceProfile, find_profile
from firmware_sim.physics.ambient import AmbientPreset
from firmware_sim.server import BusSpec, Transport

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
UNSET = msgspec.UNSET
_Unset = msgspec.UnsetType


class DeviceSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One simulated device in a site file."""

    id: str
    model: str
    transport: Transport = "tcp"
    unit: Annotated[int, msgspec.Meta(ge=1, le=247)] = 1
    host: str | _Unset = UNSET
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] | _Unset = UNSET
    serial: str | _Unset = UNSET
    baudrate: Annotated[int, msgspec.Meta(ge=1200, le=921600)] | _Unset = UNSET
    parity: Literal["N", "E", "O"] | _Unset = UNSET
    stopbits: Literal[1, 2] | _Unset = UNSET
    params: dict[str, Any] = msgspec.field(default_factory=dict)

    def bus_spec(self) -> BusSpec:
        """The endpoint this device is served on."""
        if self.transport == "rtu":
            return BusSpec(
                transport="rtu",
                serial=str(self.serial),
                baudrate=self.baudrate if isinstance(self.baudrate, int) else 115200,
                parity=self.parity if isinstance(self.parity, str) else "N",
                stopbits=self.stopbits if isinstance(self.stopbits, int) else 1,
            )
        return BusSpec(
            transport=self.transport,
            host=self.host if isinstance(self.host, str) else "127.0.0.1",
            port=self.port if isinstance(self.port, int) else 0,
        )


class SiteSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A whole site file."""

    site: str
    start_time: Annotated[datetime, msgspec.Meta(tz=True)]
    devices: list[DeviceSpec]
    seed: int = 0
    ambient: AmbientPreset = "mild"


@dataclass(frozen=True)
class Bus:
    """Devices that share one endpoint, in file order."""

    spec: BusSpec
    devices: tuple[DeviceSpec, ...]


@dataclass(frozen=True)
class Site:
    """A validated site: the spec, the profile of every model it uses, and its buses."""

    path: Path
    spec: SiteSpec
    profiles: dict[str, DeviceProfile]
    buses: tuple[Bus, ...]

    @property
    def start_time(self) -> float:
        """Simulation start as epoch seconds."""
        return self.spec.start_time.timestamp()


def _fail(path: Path, key: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {problem}. Fix: {fix}")


def _check_transport_fields(path: Path, key: str, dev: DeviceSpec) -> None:
    if dev.transport == "rtu":
        if not isinstance(dev.serial, str) or not dev.serial:
            raise _fail(
                path, f"{key}.serial", "an rtu device needs a serial line", "add serial: /dev/ttyUSB0"
            )
        for name in ("host", "port"):
            if getattr(dev, name) is not UNSET:
                raise _fail(path, f"{key}.{name}", f"{name} is for TCP transports", f"remove {name}")
        return
    if dev.serial is not UNSET:
        raise _fail(path, f"{key}.serial", f"serial is for rtu, not {dev.transport}", "remove serial")
    for name in ("baudrate", "parity", "stopbits"):
        if getattr(dev, name) is not UNSET:
            raise _fail(path, f"{key}.{name}", f"{name} is for rtu serial lines", f"remove {name}")


def _bus_key(spec: BusSpec, index: int) -> tuple[str, str, int]:
    if spec.transport == "rtu":
        return ("serial", spec.serial, 0)
    if spec.port == 0:
        return ("own", str(index), 0)
    return ("tcp", spec.host, spec.port)


def validate_site(spec: SiteSpec, path: Path) -> Site:
    """Cross-field checks; raises ConfigError naming file, key and fix."""
    if not _ID_RE.match(spec.site):
        raise _fail(path, "site", f"{spec.site!r} is not a valid id", "use [A-Za-z0-9_-]{1,64}")
    if not spec.devices:
        raise _fail(path, "devices", "the site has no devices", "list at least one device")
    profiles: dict[str, DeviceProfile] = {}
    seen: set[str] = set()
    grouped: dict[tuple[str, str, int], list[DeviceSpec]] = {}
    for i, dev in enumerate(spec.devices):
        key = f"devices[{i}] ({dev.id})"
        if not _ID_RE.match(dev.id):
            raise _fail(path, f"{key}.id", f"{dev.id!r} is not a valid id", "use [A-Za-z0-9_-]{1,64}")
        if dev.id in seen:
            raise _fail(path, f"{key}.id", f"duplicate device id {dev.id!r}", "give each device its own id")
        seen.add(dev.id)
        if dev.model not in profiles:
            try:
                profiles[dev.model] = find_profile(dev.model)
            except ConfigError as exc:
                raise _fail(
                    path, f"{key}.model", str(exc), "use a model from chargewatch/devices/ (file name)"
                ) from exc
        _check_transport_fields(path, key, dev)
        grouped.setdefault(_bus_key(dev.bus_spec(), i), []).append(dev)
    for devices in grouped.values():
        first = devices[0]
        units: dict[int, str] = {}
        for dev in devices:
            where = f"devices ({dev.id})"
            if dev.bus_spec() != first.bus_spec():
                raise _fail(
                    path,
                    where,
                    f"shares {first.bus_spec().label} with {first.id} but not its transport or line settings",
                    f"use the same transport/baudrate/parity/stopbits as {first.id} or another endpoint",
                )
            if dev.unit in units:
                raise _fail(
                    path,
                    f"{where}.unit",
                    f"unit {dev.unit} is already used by {units[dev.unit]} on {first.bus_spec().label}",
                    "give each device on one bus its own unit id",
                )
            units[dev.unit] = dev.id
    buses = tuple(Bus(devs[0].bus_spec(), tuple(devs)) for devs in grouped.values())
    return Site(path=path, spec=spec, profiles=profiles, buses=buses)


def load_site(path: Path | str) -> Site:
    """Load and validate a site file (start_time is an unquoted ISO 8601 time with a zone)."""
    spec = decode_file(path, SiteSpec, "site file", "configs/sites/example.yaml")
    return validate_site(spec, Path(path))

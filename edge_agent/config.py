"""The agent's one YAML config file, validated once at start-up.

Unknown keys are rejected; cross-field checks cover what the schema cannot say (request
deadline vs poll interval, duplicate unit ids on a bus, unknown profile models, allow-listed
command points that no profile marks writable). Every error names the file, the key and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from chargewatch.configfile import decode_file
from chargewatch.errors import ConfigError
from chargewatch.messages import ID_PATTERN
from chargewatch.mqtt_config import old_keys
from chargewatch.profiles import DeviceProfile, load_profiles, profile_dirs
from chargewatch.signing import load_public_key
from edge_agent.command_auth import KeyPolicy
from edge_agent.mqtt.settings import MqttSettings
from edge_agent.outbox.settings import OutboxSettings

Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
PositiveS = Annotated[float, msgspec.Meta(gt=0, le=3600)]
Unit = Annotated[int, msgspec.Meta(ge=1, le=247)]
TcpPort = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Retries = Annotated[int, msgspec.Meta(ge=0, le=5)]

MAX_BACKOFF_CAP_S = 60.0


class DeviceConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One device on a bus."""

    id: Id
    unit: Unit
    model: Id
    poll_s: PositiveS = 1.0


class _BusBase(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    name: Id
    devices: list[DeviceConfig]
    timeout_s: PositiveS = 0.3
    retries: Retries = 1
    min_gap_s: Annotated[float, msgspec.Meta(ge=0, le=5)] = 0.0
    max_gap: Annotated[int, msgspec.Meta(ge=0, le=100)] = 8
    down_after: Annotated[int, msgspec.Meta(ge=1, le=100)] = 2
    backoff_initial_s: PositiveS = 1.0
    backoff_cap_s: PositiveS = 30.0


class TcpBus(
    _BusBase, tag="tcp", tag_field="transport", forbid_unknown_fields=True, kw_only=True, frozen=True
):
    """Modbus TCP (MBAP framing) to one endpoint; several unit ids behind a gateway are allowed."""

    host: str = "127.0.0.1"
    port: TcpPort = 502


class RtuTcpBus(
    _BusBase, tag="rtu_over_tcp", tag_field="transport", forbid_unknown_fields=True, kw_only=True, frozen=True
):
    """RTU frames through a TCP serial server: one line, so one request at a time with drain."""

    host: str = "127.0.0.1"
    port: TcpPort = 502
    drain_s: PositiveS = 0.2


class SerialBus(
    _BusBase, tag="rtu", tag_field="transport", forbid_unknown_fields=True, kw_only=True, frozen=True
):
    """Modbus RTU on an RS-485 serial port."""

    serial_port: str
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    drain_s: PositiveS = 0.2


BusConfig = TcpBus | RtuTcpBus | SerialBus


class InterlockConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Local safety rules; they act through Modbus with or without a network."""

    enabled: bool = True
    critical_socket_temp_c: Annotated[float, msgspec.Meta(ge=40, le=150)] = 90.0
    confirm_samples: Annotated[int, msgspec.Meta(ge=1, le=60)] = 3
    smoke: bool = True
    over_current: bool = True
    over_current_samples: Annotated[int, msgspec.Meta(ge=1, le=60)] = 2


PointName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,47}$")]


class TrustedKeyConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A public key whose signed commands this agent executes, and what it may command."""

    id: Id
    """The key id signed commands name (the gateway's ``commands.key_id``)."""
    public_key_file: str
    """PEM file written by ``chargewatch keygen`` (relative paths: from this config's folder)."""
    points: list[PointName]
    """Points this key may write; each must also be in ``commands.allow``."""
    devices: list[Annotated[str, msgspec.Meta(pattern=r"^(\*|[A-Za-z0-9_-]{1,64})$")]]
    """Device ids this key may command, or ``["*"]`` for every device of this agent."""


class CommandConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Points operators may write remotely, and whose signatures to believe."""

    allow: list[PointName] = msgspec.field(default_factory=list)
    """Empty by default: nothing is remotely writable until the operator lists it."""
    trusted_keys: list[TrustedKeyConfig] = msgspec.field(default_factory=list)
    """Empty by default: every command is refused (``no_trusted_keys``)."""
    max_validity_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 300.0
    """Longest ``expires - issued`` accepted; also how long a nonce is remembered."""
    max_clock_skew_s: Annotated[float, msgspec.Meta(ge=0, le=300)] = 30.0
    """How far ``issued`` may be ahead of the agent's clock."""


class AgentConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The whole agent config file."""

    agent_id: Id
    buses: list[BusConfig]
    interlocks: InterlockConfig = msgspec.field(default_factory=InterlockConfig)
    commands: CommandConfig = msgspec.field(default_factory=CommandConfig)
    profile_dirs: list[str] = msgspec.field(default_factory=list)
    outbox: OutboxSettings
    mqtt: MqttSettings | None = None
    health_file: str | None = None
    """JSON file rewritten atomically every ``health_interval_s`` with the agent's health figures."""
    health_interval_s: PositiveS = 10.0


class LoadedConfig(msgspec.Struct, frozen=True, kw_only=True):
    """A validated config with the profile of every model it names."""

    path: Path
    agent: AgentConfig
    profiles: dict[str, DeviceProfile]
    keys: list[KeyPolicy] = msgspec.field(default_factory=list)


def _fail(path: Path, key: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {problem}. Fix: {fix}")


def _check_bus(
    path: Path, i: int, bus: BusConfig, profiles: dict[str, DeviceProfile], known: dict[str, DeviceProfile]
) -> None:
    key = f"buses[{i}] ({bus.name})"
    if not bus.devices:
        raise _fail(path, f"{key}.devices", "a bus needs at least one device", "add a device or drop the bus")
    if bus.backoff_cap_s > MAX_BACKOFF_CAP_S or bus.backoff_cap_s < bus.backoff_initial_s:
        raise _fail(
            path,
            f"{key}.backoff_cap_s",
            f"{bus.backoff_cap_s} s is not within [backoff_initial_s, {MAX_BACKOFF_CAP_S}]",
            f"set backoff_cap_s between {bus.backoff_initial_s} and {MAX_BACKOFF_CAP_S}",
        )
    units: dict[int, str] = {}
    worst = bus.timeout_s * (bus.retries + 1)
    for j, dev in enumerate(bus.devices):
        dkey = f"{key}.devices[{j}] ({dev.id})"
        if dev.unit in units:
            raise _fail(
                path,
                f"{dkey}.unit",
                f"unit id {dev.unit} is already used by {units[dev.unit]} on this bus",
                "give every device on one bus its own unit id",
            )
        units[dev.unit] = dev.id
        if worst >= dev.poll_s:
            raise _fail(
                path,
                f"{dkey}.poll_s",
                f"poll interval {dev.poll_s} s is not longer than the bus's worst request time "
                f"timeout_s × (retries + 1) = {worst:g} s",
                "raise poll_s or lower timeout_s / retries on the bus",
            )
        if dev.model not in known:
            raise _fail(
                path,
                f"{dkey}.model",
                f"unknown profile model {dev.model!r} (known: {', '.join(sorted(known))})",
                _MODEL_FIX,
            )
        profiles[dev.model] = known[dev.model]


_MODEL_FIX = "use a bundled model (chargewatch/devices/) or add its profile to a folder in profile_dirs"


def _known_profiles(path: Path, agent: AgentConfig) -> dict[str, DeviceProfile]:
    """Bundled profiles plus every file in ``profile_dirs`` (relative to the config file), validated."""
    try:
        return load_profiles(profile_dirs(agent.profile_dirs, path.parent))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def validate_config(agent: AgentConfig, path: Path | str = "<config>") -> LoadedConfig:
    """Cross-field checks and profile loading. Raises ConfigError naming file, key and fix."""
    path = Path(path)
    profiles: dict[str, DeviceProfile] = {}
    known = _known_profiles(path, agent)
    if not agent.buses:
        raise _fail(path, "buses", "no bus configured", "add at least one bus with devices")
    names: set[str] = set()
    device_ids: dict[str, str] = {}
    for i, bus in enumerate(agent.buses):
        if bus.name in names:
            raise _fail(
                path, f"buses[{i}].name", f"duplicate bus name {bus.name!r}", "name every bus uniquely"
            )
        names.add(bus.name)
        _check_bus(path, i, bus, profiles, known)
        for j, dev in enumerate(bus.devices):
            if dev.id in device_ids:
                raise _fail(
                    path,
                    f"buses[{i}].devices[{j}].id",
                    f"device id {dev.id!r} is also on bus {device_ids[dev.id]}",
                    "give every device a unique id",
                )
            device_ids[dev.id] = bus.name
    for k, name in enumerate(agent.commands.allow):
        having = [p for p in profiles.values() if name in p.by_name]
        if not having:
            raise _fail(
                path,
                f"commands.allow[{k}]",
                f"no configured device model has a point {name!r}",
                "remove it or fix the spelling (see chargewatch/devices/)",
            )
        for profile in having:
            if not profile.point(name).writable:
                raise _fail(
                    path,
                    f"commands.allow[{k}]",
                    f"point {name!r} is not writable in profile {profile.model}",
                    "allow only points the profile marks writable: true",
                )
    keys = _trusted_keys(path, agent.commands, set(device_ids))
    return LoadedConfig(path=path, agent=agent, profiles=profiles, keys=keys)


def _trusted_keys(path: Path, cfg: CommandConfig, devices: set[str]) -> list[KeyPolicy]:
    out: list[KeyPolicy] = []
    for k, key in enumerate(cfg.trusted_keys):
        where = f"commands.trusted_keys[{k}]"
        if any(p.key_id == key.id for p in out):
            raise _fail(path, f"{where}.id", f"duplicate key id {key.id!r}", "give every key its own id")
        for name in key.points:
            if name not in cfg.allow:
                raise _fail(path, f"{where}.points", f"{name!r} is not in commands.allow", "add it there too")
        for dev in key.devices:
            if dev != "*" and dev not in devices:
                raise _fail(
                    path, f"{where}.devices", f"no device {dev!r} on this agent", "use a configured id"
                )
        file = Path(key.public_key_file)
        try:
            public = load_public_key(file if file.is_absolute() else path.parent / file)
        except ConfigError as exc:
            raise _fail(path, f"{where}.public_key_file", str(exc), "point it at a .pub file") from exc
        out.append(KeyPolicy(key.id, public, frozenset(key.points), frozenset(key.devices)))
    return out


def load_config(path: Path | str) -> LoadedConfig:
    """Read, decode and validate the agent config at ``path``."""
    agent = decode_file(path, AgentConfig, "agent config", "configs/agent.example.yaml", old_keys())
    return validate_config(agent, path)

"""Device profiles: the register map of a device model, validated once on load.

A profile is the one source of truth for a device's Modbus layout: the simulator
serves it and the edge agent reads it. The bundled profiles are ``chargewatch/devices/*.yaml``
(package data); agent and gateway add folders of their own with ``profile_dirs``.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Literal

import msgspec

from chargewatch.configfile import decode_file
from chargewatch.errors import ConfigError

Table = Literal["coil", "discrete", "input", "holding"]
PointType = Literal["bool", "u16", "i16", "u32", "i32", "f32"]
Order = Literal["big", "little"]
DeviceKind = Literal["pile", "blocker"]

BIT_TABLES: frozenset[str] = frozenset({"coil", "discrete"})
WRITABLE_TABLES: frozenset[str] = frozenset({"coil", "holding"})
WIDTH: dict[str, int] = {"bool": 1, "u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2}
_STRUCT: dict[str, str] = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "f32": ">f"}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_MODEL_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Point(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True, dict=True):
    """One measured or commanded quantity; ``per_port`` points repeat every ``stride`` registers."""

    name: str
    table: Table
    address: int
    type: PointType = "u16"
    word_order: Order = "big"
    byte_order: Order = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    per_port: bool = False
    stride: int = 0
    writable: bool = False
    range: tuple[float, float] | None = None
    count: int | None = None
    values: dict[int, str] | None = None
    #: raw register contents that mean "no sensor / no reading" (e.g. [0xFFFF]): the unsigned
    #: integer of the point's registers in its own word and byte order; decoded as None + flag
    invalid: list[int] | None = None
    description: str = ""

    @property
    def width(self) -> int:
        """Registers (or bits) one instance of this point occupies."""
        return WIDTH[self.type]

    def address_of(self, port: int | None = None) -> int:
        """Modbus address of this point, for ``port`` (0-based) when the point is per port."""
        if self.per_port:
            if port is None:
                raise ValueError(f"point {self.name!r} is per port: a port index is required")
            return self.address + port * self.stride
        return self.address

    def plausible(self, value: float) -> bool:
        """True when ``value`` is finite and inside the point's plausible range."""
        if not math.isfinite(value):
            return False
        return self.range is None or self.range[0] <= value <= self.range[1]

    def raw_int(self, regs: Sequence[int]) -> int:
        """The unsigned integer the point's registers hold, in its word and byte order."""
        words = list(regs[: self.width])
        if self.word_order == "little" and self.width == 2:
            words.reverse()
        if self.byte_order == "little":
            words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
        value = 0
        for w in words:
            value = (value << 16) | w
        return value

    def raw_words(self, raw: int) -> list[int]:
        """Registers holding the unsigned integer ``raw`` (the inverse of :meth:`raw_int`)."""
        words = [(raw >> (16 * (self.width - 1 - i))) & 0xFFFF for i in range(self.width)]
        if self.byte_order == "little":
            words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
        if self.word_order == "little" and self.width == 2:
            words.reverse()
        return words

    def decode(self, regs: Sequence[int]) -> float:
        """Engineering value from the raw registers (bits for coil/discrete)."""
        return self._decoder(regs)

    def encode(self, value: float) -> list[int]:
        """Raw registers for an engineering value; raises ValueError if it cannot be represented."""
        if self.type == "bool":
            return [1 if value else 0]
        raw = (value - self.offset) / self.scale
        fmt = _STRUCT[self.type]
        if self.type != "f32":
            raw_int = round(raw)
            try:
                data = struct.pack(fmt, raw_int)
            except struct.error as exc:
                raise ValueError(
                    f"point {self.name!r}: value {value} (raw {raw_int}) does not fit {self.type}"
                ) from exc
        else:
            data = struct.pack(fmt, raw)
        words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
        if self.byte_order == "little":
            words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
        if self.word_order == "little":
            words.reverse()
        return words

    @cached_property
    def _decoder(self) -> Callable[[Sequence[int]], float]:
        scale, offset = self.scale, self.offset
        if self.type == "bool":
            return lambda regs: 1.0 if regs[0] else 0.0
        unpack = struct.Struct(_STRUCT[self.type]).unpack
        swap_bytes = self.byte_order == "little"
        width = self.width
        swap_words = self.word_order == "little" and width == 2

        def decode(regs: Sequence[int]) -> float:
            words = list(regs[:width])
            if swap_words:
                words.reverse()
            if swap_bytes:
                words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
            data = b"".join(w.to_bytes(2, "big") for w in words)
            raw: float = unpack(data)[0]
            return raw * scale + offset

        return decode


class DeviceProfile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, dict=True):
    """The register map of one device model."""

    model: str
    vendor: str
    kind: DeviceKind
    points: list[Point]
    ports: int = 0
    description: str = ""
    limits: dict[str, float] = msgspec.field(default_factory=dict)

    @cached_property
    def by_name(self) -> dict[str, Point]:
        """Points keyed by name."""
        return {p.name: p for p in self.points}

    def point(self, name: str) -> Point:
        """The point called ``name``; KeyError names the model and the known points."""
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(
                f"profile {self.model!r} has no point {name!r}; known: {sorted(self.by_name)}"
            ) from None

    @property
    def port_points(self) -> list[Point]:
        """Points repeated per port."""
        return [p for p in self.points if p.per_port]

    @property
    def device_points(self) -> list[Point]:
        """Points that exist once per device."""
        return [p for p in self.points if not p.per_port]

    def instances(self) -> list[tuple[Point, int | None, int]]:
        """Every (point, port, address) the device exposes."""
        out: list[tuple[Point, int | None, int]] = []
        for p in self.points:
            if p.per_port:
                out.extend((p, i, p.address_of(i)) for i in range(self.ports))
            else:
                out.append((p, None, p.address))
        return out

    def table_size(self, table: Table) -> int:
        """One past the highest address used in ``table`` (0 if the table is unused)."""
        ends = [addr + p.width for p, _, addr in self.instances() if p.table == table]
        return max(ends, default=0)


def _port(port: int | None) -> str:
    return f" (port {port})" if port is not None else ""


def _fail(path: Path | str, key: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {problem}. Fix: {fix}")


def validate_profile(profile: DeviceProfile, path: Path | str = "<profile>") -> DeviceProfile:
    """Cross-field checks that the schema alone cannot express. Raises ConfigError."""
    if not _MODEL_RE.match(profile.model):
        raise _fail(path, "model", f"{profile.model!r} is not a valid id", "use [A-Za-z0-9_-]{1,64}")
    if profile.kind == "pile" and not 1 <= profile.ports <= 64:
        raise _fail(path, "ports", f"a pile needs 1..64 ports, got {profile.ports}", "set ports: 10")
    if profile.kind == "blocker" and profile.ports != 0:
        raise _fail(path, "ports", "a blocker has no charging ports", "remove ports or set it to 0")
    for key, limit in profile.limits.items():
        if not math.isfinite(limit):
            raise _fail(path, f"limits.{key}", f"{limit} is not finite", "give a finite number")
    seen_names: set[str] = set()
    occupied: dict[tuple[str, int], tuple[str, int | None]] = {}
    for i, p in enumerate(profile.points):
        key = f"points[{i}] ({p.name})"
        if not _NAME_RE.match(p.name):
            raise _fail(path, f"{key}.name", f"{p.name!r} is not a valid point name", "use [a-z][a-z0-9_]*")
        if p.name in seen_names:
            raise _fail(
                path, f"{key}.name", f"duplicate point name {p.name!r}", "give each point a unique name"
            )
        seen_names.add(p.name)
        is_bit = p.table in BIT_TABLES
        if is_bit != (p.type == "bool"):
            want = "bool" if is_bit else "one of u16, i16, u32, i32, f32"
            raise _fail(
                path, f"{key}.type", f"type {p.type} does not fit table {p.table}", f"use type {want}"
            )
        if p.count is not None and p.count != p.width:
            raise _fail(
                path,
                f"{key}.count",
                f"type {p.type} occupies {p.width} register(s), count says {p.count}",
                f"set count: {p.width} or remove it",
            )
        if not math.isfinite(p.scale) or p.scale == 0:
            raise _fail(
                path,
                f"{key}.scale",
                f"scale {p.scale} is zero or not finite",
                "set scale to the register's resolution, e.g. 0.1",
            )
        if not math.isfinite(p.offset):
            raise _fail(path, f"{key}.offset", f"offset {p.offset} is not finite", "give a finite offset")
        if p.writable and p.table not in WRITABLE_TABLES:
            raise _fail(
                path,
                f"{key}.writable",
                f"table {p.table} is read-only in Modbus",
                "put writable points in coil or holding",
            )
        if p.range is not None and not (
            math.isfinite(p.range[0]) and math.isfinite(p.range[1]) and p.range[0] < p.range[1]
        ):
            raise _fail(
                path,
                f"{key}.range",
                f"range {list(p.range)} is not [low, high] with low < high",
                "give [low, high]",
            )
        _check_invalid(p, key, path)
        if p.per_port:
            if profile.ports == 0:
                raise _fail(
                    path,
                    f"{key}.per_port",
                    "per-port point on a device without ports",
                    "set per_port: false or give the device ports",
                )
            if p.stride < p.width:
                raise _fail(
                    path,
                    f"{key}.stride",
                    f"stride {p.stride} is smaller than the point's width {p.width}",
                    f"set stride to at least {p.width}",
                )
        elif p.stride:
            raise _fail(
                path,
                f"{key}.stride",
                "stride given for a point that is not per port",
                "remove stride or set per_port: true",
            )
        ports: list[int | None] = list(range(profile.ports)) if p.per_port else [None]
        for port in ports:
            start = p.address_of(port)
            if start < 0 or start + p.width > 65536:
                raise _fail(
                    path,
                    f"{key}.address",
                    f"address {start} is outside 0..65535",
                    "use an address in 0..65535",
                )
            for a in range(start, start + p.width):
                other = occupied.get((p.table, a))
                if other is not None:
                    raise _fail(
                        path,
                        f"{key}.address",
                        f"{p.table} address {a}{_port(port)} overlaps point {other[0]!r}{_port(other[1])}",
                        "move one of the two points or change the stride",
                    )
                occupied[(p.table, a)] = (p.name, port)
    return profile


def _check_invalid(p: Point, key: str, path: Path | str) -> None:
    """``invalid`` sentinels: register points only, each fitting the point's registers, no repeats,
    and never a code the point defines in ``values``."""
    if p.invalid is None:
        return
    if p.type == "bool":
        raise _fail(path, f"{key}.invalid", "a bool point has no sentinel value", "remove invalid")
    top = (1 << (16 * p.width)) - 1
    for raw in p.invalid:
        if not 0 <= raw <= top:
            raise _fail(
                path,
                f"{key}.invalid",
                f"{raw} does not fit {p.type} ({p.width} register(s): 0..{top:#x})",
                f"give the raw register content as an unsigned number, e.g. {top:#x}",
            )
        if p.values is not None and raw in p.values:
            raise _fail(
                path,
                f"{key}.invalid",
                f"{raw:#x} is also the code {p.values[raw]!r} in values",
                "remove it from one of the two",
            )
    if len(set(p.invalid)) != len(p.invalid) or not p.invalid:
        raise _fail(path, f"{key}.invalid", "empty or repeated sentinels", "list each raw value once")


def load_profile(path: Path | str) -> DeviceProfile:
    """Load and validate one profile YAML file; ConfigError names the file, key and fix."""
    profile = decode_file(path, DeviceProfile, "device profile", "chargewatch/devices/")
    return validate_profile(profile, path)


PROFILE_DIR = Path(__file__).resolve().parent / "devices"
"""The profiles shipped inside the package (package data, so a wheel install has them too)."""


def profile_dirs(dirs: Sequence[Path | str], base: Path | None = None) -> list[Path]:
    """The configured extra profile folders, resolved against ``base`` (the config file's folder).

    Each must be an existing folder; ConfigError names the key and the folder otherwise.
    """
    out: list[Path] = []
    for i, d in enumerate(dirs):
        path = Path(d)
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_dir():
            raise ConfigError(
                f"profile_dirs[{i}]: {str(d)!r} ({path}) is not a folder. "
                "Fix: create it or remove it from the list (paths are relative to the config file)"
            )
        out.append(path)
    return out


def _claim(model: str, path: Path, seen: dict[str, Path]) -> None:
    if model in seen:
        raise ConfigError(
            f"device profile model {model!r} is defined twice: in {seen[model]} and in {path}. "
            "Fix: remove one of the two files, or give the local variant its own model name"
        )
    seen[model] = path


def _named_for(profile: DeviceProfile, path: Path) -> DeviceProfile:
    if profile.model != path.stem:
        raise ConfigError(
            f"{path}: model: says {profile.model!r} but the file is named for {path.stem!r}. "
            "Fix: make them agree"
        )
    return profile


def load_profiles(search: Sequence[Path] = ()) -> dict[str, DeviceProfile]:
    """Every profile in the bundled folder and in ``search``, each validated, keyed by model.

    A model defined in two files (in two folders, or twice in one) is a ConfigError naming both.
    """
    seen: dict[str, Path] = {}
    profiles: dict[str, DeviceProfile] = {}
    for d in (PROFILE_DIR, *search):
        for path in sorted(Path(d).glob("*.yaml")):
            profile = _named_for(load_profile(path), path)
            _claim(profile.model, path, seen)
            profiles[profile.model] = profile
    return profiles


def find_profile(model: str, search: Sequence[Path] = ()) -> DeviceProfile:
    """The profile of ``model`` from the bundled folder or one of the ``search`` folders.

    Unknown models and a model found in two folders are ConfigErrors naming the folders searched
    (or both files).
    """
    seen: dict[str, Path] = {}
    for d in (PROFILE_DIR, *search):
        candidate = Path(d) / f"{model}.yaml"
        if candidate.is_file():
            _claim(model, candidate, seen)
    if not seen:
        folders = [str(d) for d in (PROFILE_DIR, *search)]
        raise ConfigError(f"no device profile for model {model!r} in {folders}")
    path = seen[model]
    return _named_for(load_profile(path), path)

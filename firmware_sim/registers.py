"""The register image of one simulated device, built from its profile.

The image holds the four Modbus tables as plain lists of words (bits as 0/1) and is
refreshed from the model's engineering values after every simulation step. Writes are
*planned* here (decoded per profile, checked against the map and the plausible range)
and applied by the serving layer, which owns the model.

Map rules: a read is legal when every address lies inside the table's extent
(``0 .. table_size - 1``); gaps inside the extent read as 0 so a poller can read a whole
port block in one request. A write is legal only when it covers whole writable points.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chargewatch.errors import ChargeWatchError
from chargewatch.profiles import DeviceProfile, Point, Table
from firmware_sim.model import PointValues, RawOverrides

TABLES: tuple[Table, ...] = ("coil", "discrete", "holding", "input")
_INT_RANGE: dict[str, tuple[int, int]] = {
    "u16": (0, 0xFFFF),
    "i16": (-0x8000, 0x7FFF),
    "u32": (0, 0xFFFF_FFFF),
    "i32": (-0x8000_0000, 0x7FFF_FFFF),
}
_F32 = struct.Struct(">f")
_U32 = struct.Struct(">I")

Encoder = Callable[[float], list[int]]


class RegisterError(ChargeWatchError):
    """A Modbus request the device's register map cannot serve."""

    def __init__(self, device: str, table: str, address: int, count: int, reason: str) -> None:
        super().__init__(f"device {device}: {table} {address}..{address + count - 1}: {reason}")
        self.device = device
        self.table = table
        self.address = address
        self.count = count
        self.reason = reason


class IllegalAddressError(RegisterError):
    """Outside the map, not writable, or a write that splits a multi-register point."""


class IllegalValueError(RegisterError):
    """A written value outside the point's plausible range."""


class ModelContractError(ChargeWatchError):
    """The device model broke the seam: a point value or override is missing or malformed."""


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """One decoded write to route to :meth:`DeviceModel.write_point`."""

    point: str
    port: int | None
    value: float


@dataclass(frozen=True, slots=True)
class _Slot:
    point: Point
    port: int | None
    table: Table
    address: int
    encode: Encoder


def _swap_bytes(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def compile_encoder(point: Point) -> Encoder:
    """A fast ``value -> registers`` for ``point`` that saturates instead of raising.

    Integer types clamp to their range (NaN becomes the type's maximum, an implausible
    reading rather than a fake plausible one); float32 overflows to ±inf. A real reading
    whose word is one of the point's ``invalid`` sentinels is sent one count nearer zero, as
    a firmware that reserves the code does (an i16 temperature's 0xFFFF is −0.1 °C at scale
    0.1: without this every reading of −0.1 °C decoded as "no sensor fitted").
    """
    if point.type == "bool":
        return lambda value: [1 if value else 0]
    scale, offset = point.scale, point.offset
    swap_b = point.byte_order == "little"
    swap_w = point.word_order == "little"
    if point.type == "f32":

        def pack(value: float) -> int:
            raw = (value - offset) / scale
            try:
                data = _F32.pack(raw)
            except OverflowError:
                data = _F32.pack(math.copysign(math.inf, raw))
            return int(_U32.unpack(data)[0])

    else:
        lo, hi = _INT_RANGE[point.type]
        mask = 0xFFFF if point.width == 1 else 0xFFFF_FFFF

        reserved = frozenset(point.invalid or ())

        def pack(value: float) -> int:
            raw = (value - offset) / scale
            if math.isnan(raw) or raw >= hi:
                return hi & mask
            if raw <= lo:
                return lo & mask
            word = round(raw) & mask
            if word in reserved:  # a reading never wears the "no sensor" code: one count towards 0
                word = (round(raw) + (1 if raw < 0 else -1)) & mask
            return word

    if point.width == 1:
        if swap_b:
            return lambda value: [_swap_bytes(pack(value))]
        return lambda value: [pack(value)]

    def encode32(value: float) -> list[int]:
        word = pack(value)
        words = [word >> 16, word & 0xFFFF]
        if swap_b:
            words = [_swap_bytes(w) for w in words]
        if swap_w:
            words.reverse()
        return words

    return encode32


class RegisterImage:
    """The four Modbus tables of one device, encoded from its profile."""

    def __init__(self, device_id: str, profile: DeviceProfile) -> None:
        self.device_id = device_id
        self.profile = profile
        self.tables: dict[Table, list[int]] = {t: [0] * profile.table_size(t) for t in TABLES}
        self._slots = [
            _Slot(p, port, p.table, addr, compile_encoder(p)) for p, port, addr in profile.instances()
        ]
        self._by_key = {(s.point.name, s.port): s for s in self._slots}
        self._writable: dict[tuple[Table, int], _Slot] = {
            (s.table, s.address): s for s in self._slots if s.point.writable
        }

    def refresh(self, values: PointValues, overrides: RawOverrides) -> None:
        """Re-encode every point from the model's values, then apply raw sensor overrides."""
        tables = self.tables
        for slot in self._slots:
            value = values.get(slot.point.name)
            if isinstance(value, list) and slot.port is not None and slot.port < len(value):
                scalar = value[slot.port]
            elif isinstance(value, float | int) and slot.port is None:
                scalar = value
            else:
                where = "" if slot.port is None else f" port {slot.port}"
                raise ModelContractError(
                    f"device {self.device_id}: read_points() gave {value!r} for point "
                    f"{slot.point.name!r}{where}; expected a number (a list of one per port if per port)"
                )
            words = slot.encode(scalar)
            tables[slot.table][slot.address : slot.address + len(words)] = words
        for key, raw in overrides.items():
            self._override(key, raw)

    def _override(self, key: tuple[str, int | None], raw: Sequence[int]) -> None:
        slot = self._by_key.get(key)
        if slot is None:
            raise ModelContractError(
                f"device {self.device_id}: raw_overrides() names unknown point instance {key!r}"
            )
        if len(raw) != slot.point.width or not all(0 <= r <= 0xFFFF for r in raw):
            raise ModelContractError(
                f"device {self.device_id}: raw_overrides() for {key!r} must be "
                f"{slot.point.width} word(s) in 0..65535, got {list(raw)!r}"
            )
        self.tables[slot.table][slot.address : slot.address + slot.point.width] = list(raw)

    def read(self, table: Table, address: int, count: int) -> list[int]:
        """Raw words (bits as 0/1) of ``count`` addresses from ``address``."""
        data = self.tables[table]
        if count < 1 or address < 0 or address + count > len(data):
            raise IllegalAddressError(
                self.device_id, table, address, count, f"outside the map (table size {len(data)})"
            )
        return data[address : address + count]

    def plan_write(self, table: Table, address: int, raw: Sequence[int]) -> list[PlannedWrite]:
        """Decode a write per profile; raises IllegalAddressError/IllegalValueError up front."""
        count = len(raw)
        planned: list[PlannedWrite] = []
        offset = 0
        while offset < count:
            slot = self._writable.get((table, address + offset))
            if slot is None:
                raise IllegalAddressError(
                    self.device_id, table, address, count, f"address {address + offset} is not writable"
                )
            width = slot.point.width
            if offset + width > count:
                raise IllegalAddressError(
                    self.device_id,
                    table,
                    address,
                    count,
                    f"write splits {width}-word {slot.point.name}",
                )
            value = slot.point.decode(raw[offset : offset + width])
            if not slot.point.plausible(value):
                raise IllegalValueError(
                    self.device_id,
                    table,
                    address,
                    count,
                    f"{slot.point.name}={value} outside range {slot.point.range}",
                )
            planned.append(PlannedWrite(slot.point.name, slot.port, value))
            offset += width
        return planned

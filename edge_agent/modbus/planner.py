"""Register-block planning: the fewest contiguous Modbus reads that cover a device profile.

Points of one table are sorted by address and merged into a block while the hole between
them is at most ``max_gap`` registers (bits for coil/discrete tables) and the block stays
within the protocol limit (125 registers or 2000 bits per read). Each block remembers where
every point instance sits inside it, so decoding is a slice, not a search.
"""

from __future__ import annotations

from dataclasses import dataclass

from chargewatch.profiles import BIT_TABLES, DeviceProfile, Point, Table

MAX_REGISTERS = 125
MAX_BITS = 2000


@dataclass(frozen=True, slots=True)
class Slot:
    """One point instance inside a block: ``offset`` registers (or bits) from the block start."""

    point: Point
    port: int | None
    offset: int


@dataclass(frozen=True, slots=True)
class Block:
    """One read request: ``count`` registers (or bits) of ``table`` from ``address``."""

    table: Table
    address: int
    count: int
    slots: tuple[Slot, ...]

    @property
    def end(self) -> int:
        """One past the last address read."""
        return self.address + self.count


def _limit(table: Table) -> int:
    return MAX_BITS if table in BIT_TABLES else MAX_REGISTERS


def plan_blocks(profile: DeviceProfile, max_gap: int = 8) -> list[Block]:
    """Blocks covering every point of ``profile``, ordered by table then address."""
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    by_table: dict[Table, list[tuple[int, Point, int | None]]] = {}
    for point, port, address in profile.instances():
        by_table.setdefault(point.table, []).append((address, point, port))
    blocks: list[Block] = []
    for table in ("coil", "discrete", "input", "holding"):
        items = sorted(by_table.get(table, []), key=lambda item: item[0])
        gap = max_gap * 16 if table in BIT_TABLES else max_gap
        limit = _limit(table)
        start = -1
        end = -1
        members: list[tuple[int, Point, int | None]] = []
        for address, point, port in items:
            fits = start >= 0 and address - end <= gap and address + point.width - start <= limit
            if not fits:
                if members:
                    blocks.append(_block(table, start, end, members))
                start, members = address, []
            members.append((address, point, port))
            end = max(end, address + point.width) if len(members) > 1 else address + point.width
        if members:
            blocks.append(_block(table, start, end, members))
    return blocks


def _block(table: Table, start: int, end: int, members: list[tuple[int, Point, int | None]]) -> Block:
    slots = tuple(Slot(point, port, address - start) for address, point, port in members)
    return Block(table, start, end - start, slots)

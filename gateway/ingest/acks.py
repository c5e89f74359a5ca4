"""Ack batching: seqs committed to the spool, compressed into ranges per (device, boot).

The pipeline adds seqs only after the spool commit returned; the gateway flushes every
``ack_interval`` and publishes one :class:`chargewatch.messages.Ack` per (device, boot).
"""

from __future__ import annotations

from collections import defaultdict

from chargewatch.messages import Ack, AckRange

MAX_RANGES = 256


def ranges(seqs: set[int]) -> list[AckRange]:
    """Sorted inclusive ranges covering exactly ``seqs``."""
    out: list[AckRange] = []
    for s in sorted(seqs):
        if out and s == out[-1].hi + 1:
            out[-1] = AckRange(out[-1].lo, s)
        else:
            out.append(AckRange(s, s))
    return out


class AckBatcher:
    """Pending acks; :meth:`take` empties it."""

    def __init__(self) -> None:
        self._pending: defaultdict[tuple[str, int], set[int]] = defaultdict(set)

    def add(self, device: str, boot: int, seq: int) -> None:
        self._pending[(device, boot)].add(seq)

    def __len__(self) -> int:
        return sum(map(len, self._pending.values()))

    def take(self) -> list[Ack]:
        """One Ack per (device, boot), at most MAX_RANGES ranges each (split beyond)."""
        acks: list[Ack] = []
        for (device, boot), seqs in self._pending.items():
            rs = ranges(seqs)
            for i in range(0, len(rs), MAX_RANGES):
                acks.append(Ack(device=device, boot=boot, ranges=rs[i : i + MAX_RANGES]))
        self._pending.clear()
        return acks

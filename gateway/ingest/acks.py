"""Ack batching: seqs committed to the spool, compressed into ranges per (device, boot).

The pipeline adds seqs only after the spool commit returned; the gateway flushes every
``ack_interval`` and publishes one :class:`chargewatch.messages.Ack` per (device, boot).
"""

from __future__ import annotations

from collections import defaultdict

from chargewatch.acks import acks_for
from chargewatch.messages import Ack


class AckBatcher:
    """Pending acks; :meth:`take` empties it."""

    def __init__(self) -> None:
        self._pending: defaultdict[tuple[str, int], set[int]] = defaultdict(set)

    def add(self, device: str, boot: int, seq: int) -> None:
        self._pending[(device, boot)].add(seq)

    def __len__(self) -> int:
        return sum(map(len, self._pending.values()))

    def take(self) -> list[Ack]:
        """One Ack per (device, boot), ``chargewatch.acks.MAX_RANGES`` ranges each (split beyond)."""
        acks = [a for (device, boot), seqs in self._pending.items() for a in acks_for(device, boot, seqs)]
        self._pending.clear()
        return acks

"""The ack contract's range semantics, written once for whoever acknowledges.

An :class:`~chargewatch.messages.Ack` names the seqs of one (device, boot) that are durably
stored as sorted, merged, inclusive :class:`~chargewatch.messages.AckRange` s — explicit ranges,
never a high-water mark, since after a reconnect events overtake the backlog (see README,
"Contracts as built"). One Ack carries at most :data:`MAX_RANGES` ranges; more are split over
several Acks. The agent deletes exactly the seqs covered (``lo <= seq <= hi``).
"""

from __future__ import annotations

from collections.abc import Iterable

from chargewatch.messages import Ack, AckRange

__all__ = ["MAX_RANGES", "ack_ranges", "acks_for"]

#: ranges per Ack message; a longer list is split over several messages
MAX_RANGES = 256


def ack_ranges(seqs: Iterable[int]) -> list[AckRange]:
    """Sorted, merged inclusive ranges covering exactly ``seqs`` (duplicates allowed)."""
    out: list[AckRange] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1].hi + 1:
            out[-1] = AckRange(out[-1].lo, s)
        else:
            out.append(AckRange(s, s))
    return out


def acks_for(device: str, boot: int, seqs: Iterable[int], max_ranges: int = MAX_RANGES) -> list[Ack]:
    """The Ack messages acknowledging ``seqs`` of (device, boot), ``max_ranges`` ranges each."""
    rs = ack_ranges(seqs)
    return [
        Ack(device=device, boot=boot, ranges=rs[i : i + max_ranges]) for i in range(0, len(rs), max_ranges)
    ]

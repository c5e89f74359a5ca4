"""The ack contract's ranges: sorted, merged, inclusive, exact; long lists split over messages."""

from __future__ import annotations

from chargewatch.acks import MAX_RANGES, ack_ranges, acks_for
from chargewatch.messages import AckRange, decode_message, encode


def test_ranges_merge_exactly_the_seqs() -> None:
    assert ack_ranges({1, 2, 3, 7, 9, 10}) == [AckRange(1, 3), AckRange(7, 7), AckRange(9, 10)]
    assert ack_ranges([5, 4, 4, 6, 0]) == [AckRange(0, 0), AckRange(4, 6)], "duplicates and order"
    assert ack_ranges([]) == []


def test_many_ranges_are_split_over_several_acks() -> None:
    seqs = range(0, 2 * (MAX_RANGES + 10), 2)  # every other seq: one range each
    acks = acks_for("pile-1", 3, seqs)
    assert [len(a.ranges) for a in acks] == [MAX_RANGES, 10]
    covered = [s for a in acks for r in a.ranges for s in range(r.lo, r.hi + 1)]
    assert covered == list(seqs)
    assert all(decode_message(encode(a)) == a for a in acks), "every Ack is a valid message"
    assert acks_for("pile-1", 3, []) == []

"""Dedupe and gap detection per (device, boot, seq), tolerant of out-of-order delivery.

Per (device, boot) we keep the highest seq seen and the *missing* seqs below it as a short
list of inclusive intervals. A seq above the high-water mark is new (the skipped seqs become
missing); a seq inside a missing interval is a late arrival and is accepted (events jump the
queue on reconnect, the backlog drains later); anything else is a duplicate.

The seqs below the first one seen of a (device, boot) are missing too (events jump the queue at
a reconnect); at first contact with a device they are never reported as a gap.

A missing interval becomes a ``data_gap`` only after ``gap_timeout`` seconds without progress
(no seq of it arriving), so a backlog that is still draining is never reported as a gap. Gaps
are reported once per interval. State is a plain dict that survives restarts (see state.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import msgspec

MAX_INTERVALS = 4096
BOOTS_KEPT = 4


class Verdict(Enum):
    NEW = "new"
    LATE = "late"
    DUPLICATE = "duplicate"


class _Missing(msgspec.Struct, array_like=True):
    lo: int
    hi: int
    since: float
    reported: bool = False


class SeqState(msgspec.Struct):
    """Persisted marks of one (device, boot)."""

    hi: int
    missing: list[_Missing] = msgspec.field(default_factory=list)


@dataclass(frozen=True)
class Gap:
    device: str
    boot: int
    lo: int
    hi: int

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1


@dataclass
class SeqTracker:
    """High-water marks and missing intervals of every (device, boot) seen."""

    first_seq: int = 0
    gap_timeout: float = 30.0
    states: dict[tuple[str, int], SeqState] = field(default_factory=dict)
    dirty: set[tuple[str, int]] = field(default_factory=set)

    def observe(self, device: str, boot: int, seq: int, now: float) -> Verdict:
        """Classify one seq and record it."""
        key = (device, boot)
        st = self.states.get(key)
        if st is None:
            st = SeqState(hi=seq)
            if seq > self.first_seq:
                # kept so a backlog that arrives after a newer seq is accepted, not taken for a
                # duplicate; reported as a gap only for a device we already knew (a new boot) —
                # at first contact nobody can tell what came before
                first_contact = not any(d == device for d, _ in self.states)
                st.missing.append(_Missing(self.first_seq, seq - 1, now, reported=first_contact))
            self.states[key] = st
            self._forget_old_boots(device)
            self.dirty.add(key)
            return Verdict.NEW
        if seq > st.hi:
            if seq > st.hi + 1:
                st.missing.append(_Missing(st.hi + 1, seq - 1, now))
                if len(st.missing) > MAX_INTERVALS:
                    del st.missing[0]
            st.hi = seq
            self.dirty.add(key)
            return Verdict.NEW
        for i, gap in enumerate(st.missing):
            if gap.lo <= seq <= gap.hi:
                self._fill(st.missing, i, seq, now)
                self.dirty.add(key)
                return Verdict.LATE
        return Verdict.DUPLICATE

    def seen(self, device: str, boot: int, seq: int) -> bool:
        """Whether ``seq`` was already recorded (a look-up only; nothing changes)."""
        st = self.states.get((device, boot))
        if st is None or seq > st.hi:
            return False
        return not any(gap.lo <= seq <= gap.hi for gap in st.missing)

    @staticmethod
    def _fill(missing: list[_Missing], i: int, seq: int, now: float) -> None:
        gap = missing[i]
        parts = [
            _Missing(lo, hi, now, gap.reported)
            for lo, hi in ((gap.lo, seq - 1), (seq + 1, gap.hi))
            if lo <= hi
        ]
        missing[i : i + 1] = parts

    def _forget_old_boots(self, device: str) -> None:
        boots = sorted(b for d, b in self.states if d == device)
        for boot in boots[:-BOOTS_KEPT]:
            del self.states[(device, boot)]
            self.dirty.add((device, boot))

    def due_gaps(self, now: float) -> list[Gap]:
        """Missing intervals without progress for ``gap_timeout`` s, each reported once."""
        out: list[Gap] = []
        for (device, boot), st in self.states.items():
            for gap in st.missing:
                if not gap.reported and now - gap.since >= self.gap_timeout:
                    gap.reported = True
                    out.append(Gap(device, boot, gap.lo, gap.hi))
                    self.dirty.add((device, boot))
        return out

    def take_dirty(self) -> dict[tuple[str, int], SeqState | None]:
        """States changed since the last call (None = forgotten), for persisting."""
        changed = {key: self.states.get(key) for key in self.dirty}
        self.dirty.clear()
        return changed

    def load(self, rows: dict[tuple[str, int], SeqState]) -> None:
        """Restore persisted marks."""
        self.states.update(rows)


def encode_state(state: SeqState) -> bytes:
    return msgspec.json.encode(state)


def decode_state(raw: bytes) -> SeqState:
    return msgspec.json.decode(raw, type=SeqState)

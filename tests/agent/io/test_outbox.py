"""Outbox unit tests on a real SQLite file: boot, seq, ts clamping, capacity, acks, rollback."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from chargewatch.messages import AckRange, decode_device_message
from edge_agent.outbox import Outbox, OutboxError, Row
from tests.agent.io.support import add_tel, outbox_for


class _Recorder:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.ids: list[int] = []

    def committed(self, rows: Sequence[Row]) -> None:
        self.rows.extend(rows)

    def deleted(self, ids: Sequence[int]) -> None:
        self.ids.extend(ids)


def test_boot_increments_and_seq_restarts_per_boot(tmp_path: Path) -> None:
    boots = []
    for _ in range(3):
        with Outbox(outbox_for(tmp_path)) as box:
            boots.append(box.boot)
            assert [add_tel(box, "p1", 100.0 + i) for i in range(3)] == [0, 1, 2]
            assert add_tel(box, "p2", 100.0) == 0
    assert boots == [1, 2, 3]


def test_ts_strictly_increases_even_when_the_clock_goes_back(tmp_path: Path) -> None:
    with Outbox(outbox_for(tmp_path)) as box:
        t1 = box.add_telemetry("p1", 1000.0, "m", {}, {}, {}).ts
        t2 = box.add_telemetry("p1", 1000.0, "m", {}, {}, {}).ts
        t3 = box.add_event("p1", 999.0, "alarm", None, {}).ts
        assert t1 == 1000.0
        assert t2 == pytest.approx(1000.001)
        assert t3 == pytest.approx(1000.002)
    with Outbox(outbox_for(tmp_path)) as box:
        assert box.add_telemetry("p1", 500.0, "m", {}, {}, {}).ts == pytest.approx(1000.003)


def test_payload_is_the_returned_message(tmp_path: Path) -> None:
    with Outbox(outbox_for(tmp_path)) as box:
        msg = box.add_event("p1", 10.0, "interlock", 3, {"temp": 91.0})
        (row,) = box.pending()
        assert decode_device_message(row.payload) == msg
        assert (row.device, row.boot, row.seq) == ("p1", box.boot, 0)


def test_capacity_drops_oldest_telemetry_keeps_events(tmp_path: Path) -> None:
    rec = _Recorder()
    with Outbox(outbox_for(tmp_path, capacity=10)) as box:
        box.add_listener(rec)
        box.add_event("p1", 1.0, "alarm", None, {})
        for i in range(20):
            add_tel(box, "p1", 2.0 + i)
        box.add_event("p1", 100.0, "interlock", 1, {})
        assert box.depth() == 10
        assert box.dropped_total == 12
        rows = box.pending()
        assert [r.seq for r in rows if r.prio == 1] == [0, 21]
        assert [r.seq for r in rows if r.prio == 0] == list(range(13, 21))
        assert len(rec.ids) == 12
    with Outbox(outbox_for(tmp_path, capacity=10)) as box:
        assert box.dropped_total == 12
        assert box.depth() == 10


def test_full_of_events_drops_the_new_telemetry(tmp_path: Path) -> None:
    with Outbox(outbox_for(tmp_path, capacity=10)) as box:
        for i in range(10):
            box.add_event("p1", float(i), "alarm", None, {})
        seq = add_tel(box, "p1", 50.0)
        assert seq == 10
        assert box.depth() == 10
        assert box.dropped_total == 1
        assert add_tel(box, "p1", 51.0) == 11


def test_ack_deletes_ranges_of_one_boot_only(tmp_path: Path) -> None:
    rec = _Recorder()
    with Outbox(outbox_for(tmp_path)) as box:
        box.add_listener(rec)
        for i in range(10):
            add_tel(box, "p1", float(i))
        add_tel(box, "p2", 1.0)
        assert box.ack("p1", box.boot + 1, [AckRange(0, 9)]) == 0
        assert box.ack("p1", box.boot, [AckRange(0, 3), AckRange(7, 100)]) == 7
        assert [r.seq for r in box.pending() if r.device == "p1"] == [4, 5, 6]
        assert box.depth() == 4
        assert len(rec.ids) == 7


def test_oldest_age_is_how_long_the_agent_has_held_a_row_whatever_its_source_ts(tmp_path: Path) -> None:
    """A device clock hours ahead (or an accelerated simulator) must not hide a held backlog."""
    now = [1000.0]
    with Outbox(outbox_for(tmp_path), clock=lambda: now[0]) as box:
        add_tel(box, "p1", 1000.0 + 7200.0)  # stamped by a device clock two hours ahead
        now[0] = 1010.0
        add_tel(box, "p1", 1000.0 + 7210.0)
        assert box.oldest_age(1030.0) == pytest.approx(30.0)
        assert box.ack("p1", box.boot, [AckRange(0, 0)]) == 1
        assert box.oldest_age(1030.0) == pytest.approx(20.0)
        assert box.ack("p1", box.boot, [AckRange(1, 1)]) == 1
        assert box.oldest_age(1030.0) == 0.0


def _add_then_fail(box: Outbox) -> None:
    with box.transaction():
        add_tel(box, "p1", 3.0)
        raise RuntimeError("poll failed half-way")


def test_transaction_commits_once_and_rolls_back_seq(tmp_path: Path) -> None:
    rec = _Recorder()
    with Outbox(outbox_for(tmp_path)) as box:
        box.add_listener(rec)
        with box.transaction():
            add_tel(box, "p1", 1.0)
            add_tel(box, "p1", 2.0)
            assert rec.rows == []
        assert [r.seq for r in rec.rows] == [0, 1]
        with pytest.raises(RuntimeError, match="half-way"):
            _add_then_fail(box)
        assert box.depth() == 2
        assert add_tel(box, "p1", 4.0) == 2


def test_corrupt_file_raises_outbox_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    path.write_bytes(b"not a database" * 200)
    with pytest.raises(OutboxError, match=r"outbox\.db"):
        Outbox(outbox_for(tmp_path)).open()


def test_ack_many_deletes_in_one_commit_and_restores_full_sync(tmp_path: Path) -> None:
    rec = _Recorder()
    with Outbox(outbox_for(tmp_path, synchronous="full")) as box:
        box.add_listener(rec)
        for i in range(6):
            add_tel(box, "p1", float(i))
            add_tel(box, "p2", float(i))
        acks = [("p1", box.boot, [AckRange(0, 2)]), ("p2", box.boot, [AckRange(1, 1), AckRange(4, 5)])]
        assert box.ack_many(acks) == 6
        assert len(rec.ids) == 6
        assert box.depth() == 6
        assert box._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again for new rows
    with Outbox(outbox_for(tmp_path, synchronous="full")) as box:
        assert sorted((r.device, r.seq) for r in box.pending()) == [
            ("p1", 3), ("p1", 4), ("p1", 5), ("p2", 0), ("p2", 2), ("p2", 3),
        ]  # fmt: skip

"""Evidence windows a crash left unsealed, rebuilt from the store: the real IngestPipeline,
IngestState, Spool, SQLite store and evidence file; a crash is the loss of the recorder's open
windows (what a kill -9 does) with the spool's last batches not yet written to the store. Time is
the messages' and an injected clock's, never slept."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from chargewatch.clock import ManualClock
from chargewatch.messages import Alert, Event, Telemetry
from chargewatch.profiles import load_profiles
from chargewatch.retry import for_tests
from gateway.evidence import REBUILT, EvidenceRebuild, EvidenceRecorder, EvidenceStore, Fired, Window
from gateway.evidence.fromstore import StoreRead, read_messages
from gateway.ingest.alerts import AlertBook, AlertChange, AlertState
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.state import IngestState
from gateway.lineproto import event_lines, line, resolution, telemetry_lines, ts_ms
from gateway.metrics import Metrics
from gateway.spool import Spool
from gateway.store import Row, SQLiteStore, StoreQueryError, TimeSeriesStore
from tests.gateway.evidence.support import ALERT, NOW, item, pipeline, recorder, tel
from tests.gateway.evidence.test_recorder import series

CUT = "d1.3.port_cut.1"  # the interlock's own alert
Chain = tuple[IngestPipeline, EvidenceRecorder, EvidenceRebuild]


def interlock(seq: int) -> Event:
    data: dict[str, float | str | bool | None] = {"rule": "socket_temp", "value": 91.0, "verified": True}
    return Event(device="d1", boot=1, seq=seq, ts=NOW + seq, kind="interlock", port=3, data=data)


class _Refusing:
    """The store, answering every query with an error (the seam: TimeSeriesStore)."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner
        self.name = inner.name

    async def write(self, lines: Sequence[str]) -> None:
        await self.inner.write(lines)

    async def last(self, measurement: str, where: Mapping[str, str] | None = None) -> list[Row]:
        raise StoreQueryError(self.name, "HTTP 500 (scripted)")

    async def series(self, *args: Any) -> list[Row]:
        raise StoreQueryError(self.name, "HTTP 500 (scripted)")

    async def count(self, *args: Any) -> int:
        raise StoreQueryError(self.name, "HTTP 500 (scripted)")

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextlib.asynccontextmanager
async def gateway(
    tmp: Path, clock: ManualClock, published: list[Alert], *, crash: bool, reads_fail: bool = False
) -> AsyncIterator[Chain]:
    """One run of the gateway's evidence chain; ``crash`` drops the open windows on the way out
    (a kill -9) instead of sealing them; with ``reads_fail`` the store refuses every query. Plans
    the rebuild from the alert book as the gateway does."""
    async with (
        SQLiteStore(tmp / "store.sqlite") as store,
        Spool(tmp / "spool.sqlite", store, interval=3600.0) as spool,  # writes only when flushed
        recorder(tmp / "evidence.sqlite", clock) as rec,
    ):
        p = pipeline(tmp, spool, rec, published)
        reader: TimeSeriesStore = _Refusing(store) if reads_fail else store
        rebuild = EvidenceRebuild(
            rec, reader, load_profiles(), flush=spool.flush, metrics=Metrics(), clock=clock.time
        )
        rows = p.state.fired_since(clock.time() - 3600.0, 100)
        rebuild.plan([Fired(a.id, a.device, a.port, a.kind, a.first_ts, s) for a, s in reversed(rows)])
        yield p, rec, rebuild
        if crash:
            rec.open.clear()


async def _fire_and_crash(tmp: Path, clock: ManualClock, published: list[Alert]) -> dict[str, Any]:
    """Seqs 0..13 at 30 °C, the alert fires at seq 15 (window [5, 25]), an interlock at 16 (its
    port_cut alert: window [6, 26]), readings up to 18; then the crash. The open window's
    document as it was just before."""
    async with gateway(tmp, clock, published, crash=True) as (p, rec, _):
        await p.handle([item(tel(s, 30.0)) for s in range(14)])
        await p.handle([item(tel(s, 90.0)) for s in (14, 15)])
        await p.handle([item(interlock(16))])
        await p.handle([item(tel(s, 91.0)) for s in (17, 18)])
        fired = [(a.id, a.state, a.ts) for a in published]
        assert fired == [(ALERT, "firing", NOW + 15), (CUT, "firing", NOW + 16)]
        live = await rec.lookup(ALERT)
        assert live is not None
        assert live["sealed"] is False
        assert rec.store.listing() == []
    return live


async def test_a_window_lost_by_a_crash_is_rebuilt_from_the_store_sealed_once_and_never_again(
    tmp_path: Path,
) -> None:
    clock = ManualClock(NOW + 60)  # restart after the window's end (NOW + 25)
    published: list[Alert] = []
    live = await _fire_and_crash(tmp_path, clock, published)

    async with gateway(tmp_path, clock, published, crash=False) as (_, rec, rebuild):
        assert [w.alert_id for w in rebuild.planned] == [ALERT, CUT]
        opened = await rec.lookup(ALERT)
        assert opened is not None
        assert opened["sealed"] is False, "served while the store read is pending"
        assert rec.due(clock.time() + 10_000) == [], "an unseeded window is never sealed by time"
        assert await rebuild.run() == 2
        assert rebuild.metrics.get("cw_evidence_rebuilt_total", outcome="sealed") == 2
        doc = await rec.lookup(ALERT)

    assert doc is not None
    assert (doc["sealed"], doc["sealed_reason"]) == (True, REBUILT)
    assert doc["window"] == {"start": NOW + 5, "end": NOW + 25, "before_s": 10.0, "after_s": 10.0}
    assert (doc["alert_ts"], doc["settled_ts"]) == (NOW + 15, NOW + 15)
    for name in ("socket_temp", "power"):  # the spool's unwritten batches were flushed first
        assert series(doc, name, 3) == series(live, name, 3), name
    assert [int(ts - NOW) for ts, _ in series(doc, "socket_temp", 3)] == [
        5,
        6,
        7,
        8,
        9,
        10,
        11,
        12,
        13,
        14,
        15,
        17,
        18,
    ]
    assert [s["name"] for s in doc["series"] if s["scope"] == "pile"] == [
        "ambient_temp",
        "smoke_alarm",
        "total_power",
    ]
    assert (
        doc["events"]
        == live["events"]
        == [
            {
                "ts": NOW + 16,
                "kind": "interlock",
                "port": 3,
                "data": {"rule": "socket_temp", "value": 91.0, "verified": True},
            }
        ]
    )
    note = doc["rebuilt"]
    assert (note["from"], note["ts_resolution_ms"], note["seqs_missing"]) == (
        f"sqlite {tmp_path}/store.sqlite",
        1,
        0,
    )
    assert "socket_temp" not in note["not_stored"]
    assert "energy" in note["not_stored"], "a profile point the readings never carried"

    clock.advance(60)
    async with gateway(tmp_path, clock, published, crash=False) as (_, rec, rebuild):
        assert rebuild.planned == [], "sealed evidence is never planned again"
        assert await rebuild.run() == 0
        again = await rec.lookup(ALERT)
    assert again is not None
    assert again["sha256"] == doc["sha256"]
    store = EvidenceStore(tmp_path / "evidence.sqlite")
    try:
        assert [row[0] for row in store.listing()] == [CUT, ALERT]
        assert store.verify() == (2, [])
    finally:
        store.close()


async def test_a_window_whose_end_is_ahead_is_reopened_and_completes_with_live_data(tmp_path: Path) -> None:
    clock = ManualClock(NOW + 19)  # restart before the window's end (NOW + 25)
    published: list[Alert] = []
    await _fire_and_crash(tmp_path, clock, published)

    async with gateway(tmp_path, clock, published, crash=False) as (p, rec, rebuild):
        await p.handle([item(tel(19, 91.0))])  # live data before the store read: kept
        assert await rebuild.run() == 2
        assert rebuild.metrics.get("cw_evidence_rebuilt_total", outcome="reopened") == 2
        assert rec.sealed == 0
        await p.handle([item(tel(s, 91.0)) for s in (20, 24, 26, 28)])  # 28 ≥ end (26) + grace (2)
        clock.advance(10)
        await p.tick(clock.time())
        assert rec.sealed == 2
        doc = await rec.lookup(ALERT)

    assert doc is not None
    assert (doc["sealed"], doc["sealed_reason"]) == (True, "after_window")
    expected = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20, 24]
    assert [int(ts - NOW) for ts, _ in series(doc, "socket_temp", 3)] == expected
    assert doc["rebuilt"]["seqs_missing"] == 0
    assert [e["kind"] for e in doc["events"]] == ["interlock"]


async def test_an_unseeded_window_is_not_sealed_at_shutdown_and_is_planned_again(tmp_path: Path) -> None:
    clock = ManualClock(NOW + 60)
    published: list[Alert] = []
    await _fire_and_crash(tmp_path, clock, published)
    async with gateway(tmp_path, clock, published, crash=False) as (_, rec, rebuild):
        assert len(rebuild.planned) == 2  # the store stays unread: the gateway stops first
    store = EvidenceStore(tmp_path / "evidence.sqlite")
    try:
        assert store.listing() == [], "no document without the store's samples"
    finally:
        store.close()
    async with gateway(tmp_path, clock, published, crash=False) as (_, rec, rebuild):
        assert [w.alert_id for w in rebuild.planned] == [ALERT, CUT]
        assert await rebuild.run() == 2
    assert rec.sealed == 2


async def test_the_store_read_reports_missing_seqs_and_skips_the_gateways_own_events(tmp_path: Path) -> None:
    profiles = load_profiles()
    res = resolution(profiles["cw-pile-10"])
    lines = [ln for s in (0, 1, 3, 4) for ln in telemetry_lines(tel(s, 30.0 + s), "s", res=res)]
    lines += event_lines(interlock(2), "s")
    lines.append(
        line("event", {"device": "d1", "kind": "data_gap", "site": "s"}, {"lo": 5.0}, ts_ms(NOW + 2))
    )
    w = Window("d1.-.smoke.1", "d1", None, "smoke", NOW + 2, 2.0, 2.0, NOW, 100, settled_ts=NOW + 2)
    async with SQLiteStore(tmp_path / "store.sqlite") as store:
        await store.write(lines)
        read = await read_messages(store, profiles, w, w.end)
    kinds = [(type(m).__name__, m.seq) for m in read.messages]
    assert kinds == [("Telemetry", 0), ("Telemetry", 1), ("Event", 2), ("Telemetry", 3), ("Telemetry", 4)]
    first = read.messages[0]
    assert isinstance(first, Telemetry)
    assert first.ports["socket_temp"] == [30.0] * 10, "every port of a whole-device alert"
    assert read.rebuilt["seqs_missing"] == 0
    short = await _read_without(tmp_path, profiles, w, drop_seq=3)
    assert short.rebuilt["seqs_missing"] == 1, "seq 3 is not in the store"


async def _read_without(tmp: Path, profiles: dict[str, Any], w: Window, drop_seq: int) -> StoreRead:
    res = resolution(profiles["cw-pile-10"])
    lines = [ln for s in (0, 1, 2, 4) if s != drop_seq for ln in telemetry_lines(tel(s, 30.0), "s", res=res)]
    async with SQLiteStore(tmp / "other.sqlite") as store:
        await store.write(lines)
        return await read_messages(store, profiles, w, w.end)


async def test_a_store_that_keeps_failing_leaves_the_window_to_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(NOW + 60)
    published: list[Alert] = []
    await _fire_and_crash(tmp_path, clock, published)
    with for_tests(attempts=2, max_delay=0.0):
        async with gateway(tmp_path, clock, published, crash=False, reads_fail=True) as (_, rec, rebuild):
            assert await rebuild.run() == 0
            assert rec.open == {}, "dropped, not left open forever"
            assert rebuild.metrics.get("cw_evidence_rebuilt_total", outcome="failed") == 2
    assert rec.sealed == 0
    failed = [r.getMessage() for r in caplog.records if "evidence_rebuild_failed" in r.getMessage()]
    assert len(failed) == 2, "one line per window"
    assert ALERT in failed[0]
    assert "HTTP 500" in failed[0]
    async with gateway(tmp_path, clock, published, crash=False) as (_, rec, rebuild):
        assert await rebuild.run() == 2
    assert rec.sealed == 2


def test_the_book_gives_each_recent_alert_its_first_and_settling_change(tmp_path: Path) -> None:
    state = IngestState(tmp_path / "state.sqlite")
    book = AlertBook(state)
    try:

        def change(kind: str, to: AlertState, ts: float) -> None:
            assert book.apply(AlertChange(device="d1", kind=kind, state=to, severity="critical", ts=NOW + ts))

        change("old", "firing", -7200)  # outside the look-back
        change("smoke", "pending", 0)
        change("smoke", "firing", 30)  # confirmed 30 s later
        change("smoke", "resolved", 90)
        change("arc", "pending", 40)  # still pending
        change("heat", "firing", 50)
        got = [
            (a.kind, a.first_ts - NOW, None if s is None else s - NOW)
            for a, s in state.fired_since(NOW - 3600, 10)
        ]
        assert got == [("heat", 50, 50), ("arc", 40, None), ("smoke", 0, 30)], "newest first"
        assert [a.kind for a, _ in state.fired_since(NOW - 3600, 2)] == ["heat", "arc"], "bounded"
    finally:
        state.close()

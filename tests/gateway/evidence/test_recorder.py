"""Black-box evidence through the real ingest pipeline: real IngestPipeline, IngestState, Spool,
SQLite store and evidence file; time is the messages' and an injected clock's, never slept."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Literal

import pytest

from chargewatch.clock import ManualClock
from chargewatch.messages import Alert
from gateway.evidence import EvidenceStore, SealedError, canonical
from tests.gateway.evidence.support import ALERT, NOW, evidence_chain, item, recorder, tel


def series(doc: dict[str, object], name: str, port: int | None) -> list[list[float]]:
    found = [s for s in doc["series"] if s["name"] == name and s["port"] == port]  # type: ignore[attr-defined]
    assert len(found) == 1, f"{name}/{port} in {doc['series']}"
    return found[0]["points"]  # type: ignore[no-any-return]


async def test_window_holds_before_and_after_late_data_fills_it_and_the_seal_is_immutable(
    tmp_path: Path,
) -> None:
    clock = ManualClock(NOW)
    published: list[Alert] = []
    async with evidence_chain(tmp_path, clock, published) as (p, rec):
        await p.handle([item(tel(s, 30.0)) for s in range(6)])  # seqs 0..5: before; 0 is out of window
        await p.handle([item(tel(s, 90.0)) for s in (10, 11)])  # fires at NOW + 11
        assert [(a.id, a.state, a.ts) for a in published] == [(ALERT, "firing", NOW + 11)]
        await p.handle([item(tel(s, 91.0)) for s in (14, 16)])
        await p.handle([item(tel(s, 30.0)) for s in (6, 7, 8, 9, 12)])  # a backlog, behind the live stream
        open_doc = await rec.lookup(ALERT)
        assert open_doc is not None
        assert (open_doc["sealed"], open_doc["sha256"]) == (False, None)
        await p.tick(NOW + 30)
        assert rec.sealed == 0, "source time has not passed the window's end + grace yet"
        await p.handle([item(tel(s, 91.0)) for s in (21, 22, 23)])  # 23 ≥ end (21) + grace (2)
        await p.handle([item(tel(13, 30.0))])  # late, after the window is due but before the tick
        await p.tick(NOW + 31)
        assert rec.sealed == 1
        await p.handle([item(tel(15, 30.0))])  # arrives after sealing: stored, not in the evidence
        await p.tick(NOW + 32)
        doc = await rec.lookup(ALERT)

    assert doc is not None
    assert doc["sealed"] is True
    assert doc["window"] == {"start": NOW + 1, "end": NOW + 21, "before_s": 10.0, "after_s": 10.0}
    where = (doc["device"], doc["port"], doc["kind"], doc["alert_ts"])
    assert where == ("d1", 3, "socket_temp_high", NOW + 11)
    expected = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 21]
    assert [int(ts - NOW) for ts, _ in series(doc, "socket_temp", 3)] == expected
    assert series(doc, "socket_temp", 3)[10] == [NOW + 11, 90.0]
    assert series(doc, "power", 3)[0] == [NOW + 1, 103.0]
    pile = [s["name"] for s in doc["series"] if s["scope"] == "pile"]
    assert pile == ["ambient_temp", "smoke_alarm", "total_power"], "housekeeping (heartbeat) left out"
    assert {s["port"] for s in doc["series"] if s["scope"] == "port"} == {3}, "only the alert's port"
    assert next(s["unit"] for s in doc["series"] if s["name"] == "socket_temp") == "degC"
    assert doc["sealed_reason"] == "after_window"
    assert doc["sha256"] == hashlib.sha256(canonical(doc)).hexdigest()

    db = EvidenceStore(tmp_path / "evidence.sqlite")
    try:
        with pytest.raises(SealedError, match="already sealed"):
            db.seal({**doc, "series": []}, canonical({**doc, "series": []}), NOW)
        raw = sqlite3.connect(tmp_path / "evidence.sqlite")
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            raw.execute("UPDATE evidence SET body = x'00' WHERE alert_id = ?", (ALERT,))
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            raw.execute("DELETE FROM evidence")
        raw.close()
        assert db.verify() == (1, [])
        sealed = db.get(ALERT)
        assert sealed is not None
        assert sealed.intact
        assert json.loads(sealed.body)["series"] == doc["series"]
    finally:
        db.close()


async def test_timeout_capacity_and_shutdown_seal_and_memory_stays_bounded(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    published: list[Alert] = []
    limits = {"timeout_s": 100.0, "max_open": 2, "max_samples": 5}
    async with evidence_chain(tmp_path, clock, published, **limits) as (p, rec):
        for dev in ("a", "b", "c"):
            await p.handle([item(tel(s, 90.0, device=dev)) for s in range(4)])  # fires at seq 1
        assert len(published) == 3
        assert list(rec.open) == ["b.3.socket_temp_high.1", "c.3.socket_temp_high.1"]
        assert rec.sealed == 1, "the oldest window was sealed to stay within max_open"
        await p.handle([item(tel(s, 90.0, device="c")) for s in range(4, 10)])
        assert len(rec.history["c"]) == 5, "history per device is capped at max_samples"
        await p.tick(NOW + 99.0)
        assert rec.sealed == 1
        clock.advance(100.0)  # neither device reached the window's end: both time out
        await p.tick(clock.time())
        assert rec.sealed == 3
        assert rec.open == {}
    docs = {}
    db = EvidenceStore(tmp_path / "evidence.sqlite")
    try:
        for dev in ("a", "b", "c"):
            sealed = db.get(f"{dev}.3.socket_temp_high.1")
            assert sealed is not None
            docs[dev] = sealed.document()
    finally:
        db.close()
    assert [docs[d]["sealed_reason"] for d in "abc"] == ["capacity", "timeout", "timeout"]
    assert [docs[d]["samples"] for d in "abc"] == [4, 4, 5]
    assert docs["c"]["dropped"] == 5, "samples beyond max_samples are counted, not kept"


async def test_shutdown_seals_what_is_open(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    published: list[Alert] = []
    async with evidence_chain(tmp_path, clock, published) as (p, rec):
        await p.handle([item(tel(s, 90.0)) for s in range(3)])
        assert rec.sealed == 0
    db = EvidenceStore(tmp_path / "evidence.sqlite", readonly=True)
    try:
        sealed = db.get(ALERT)
        assert sealed is not None
        assert sealed.document()["sealed_reason"] == "shutdown"
        assert sealed.intact
    finally:
        db.close()


def _alert(state: Literal["pending", "firing", "resolved"], ts: float, alert_id: str = ALERT) -> Alert:
    device = alert_id.split(".", maxsplit=1)[0]
    return Alert(
        id=alert_id, device=device, kind="socket_overtemp", severity="critical", state=state, ts=ts, port=3
    )


async def test_a_pending_alert_keeps_its_window_open_until_it_fires(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    async with recorder(tmp_path / "evidence.sqlite", clock) as rec:  # before 10 s, after 10 s, grace 2 s
        rec.add([tel(s, 60.0) for s in range(10)])
        assert rec.opened([_alert("pending", NOW + 9)]) == []
        rec.add([tel(s, 80.0) for s in range(10, 45)])  # the confirmation takes 30 s
        assert await rec.seal_due(clock.time()) == 0, "pending: the window is still open"
        rec.opened([_alert("firing", NOW + 39)])
        rec.add([tel(s, 85.0) for s in range(45, 52)])
        assert await rec.seal_due(clock.time()) == 1  # NOW + 51 ≥ end (49) + grace (2)
        rec.add([tel(s, 60.0, device="d2") for s in range(3)])
        rec.opened([_alert("pending", NOW + 1, "d2.3.socket_overtemp.1")])
        rec.opened([_alert("pending", NOW + 7, "d3.3.socket_overtemp.1")])  # a device never heard
        empty = await rec.lookup("d3.3.socket_overtemp.1")
        assert empty is not None
        assert (empty["window"]["end"], empty["series"], empty["sealed"]) == (NOW + 7, [], False)
        clock.advance(600.0)  # never settled: sealed by the time-out with an open end
        assert await rec.seal_due(clock.time()) == 2
        doc = await rec.lookup(ALERT)
        never = await rec.lookup("d2.3.socket_overtemp.1")
    assert doc is not None
    assert never is not None
    assert (doc["alert_ts"], doc["settled_ts"]) == (NOW + 9, NOW + 39)
    assert doc["window"] == {"start": NOW - 1, "end": NOW + 49, "before_s": 10.0, "after_s": 10.0}
    temps = series(doc, "socket_temp", 3)
    assert (temps[0][0], temps[-1][0], len(temps)) == (NOW, NOW + 49, 50), "the whole confirmation is kept"
    never_end = (never["window"]["end"], never["settled_ts"], never["sealed_reason"])
    assert never_end == (NOW + 2, None, "timeout"), "never settled: the window ends at its newest sample"
    assert never["samples"] == 3, "its own device's history, not another's"
    assert never["sha256"] == hashlib.sha256(canonical(never)).hexdigest()

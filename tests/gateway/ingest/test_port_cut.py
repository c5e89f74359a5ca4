"""``port_cut``: a port cut by the pile's trip or the agent's interlock is its own critical alert,
latched until acknowledged, through the real ingest pipeline (real IngestPipeline, IngestState,
Spool, SQLite store and evidence file; time from the messages and an injected clock)."""

from __future__ import annotations

from pathlib import Path

from chargewatch.clock import ManualClock
from chargewatch.messages import Alert, Event
from gateway.spool import Spool
from gateway.store import SQLiteStore
from tests.gateway.evidence.support import NOW, evidence_chain, item, pipeline, tel

CUT3 = "d1.3.port_cut"


def interlock(seq: int, ts: float, port: int) -> Event:
    data: dict[str, float | str | bool | None] = {
        "rule": "socket_temp",
        "value": 86.0,
        "limit": 85.0,
        "verified": True,
    }
    return Event(device="d1", boot=1, seq=seq, ts=ts, kind="interlock", port=port, data=data)


async def test_a_pile_trip_and_an_interlock_page_once_and_stay_until_acknowledged(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    published: list[Alert] = []
    async with evidence_chain(tmp_path, clock, published) as (p, rec):
        await p.handle([item(tel(s, 30.0)) for s in range(3)])
        await p.handle([item(tel(s, 30.0, faults={3: 2, 6: 7})) for s in range(3, 6)])  # 7 = remote_stop
        cut = [(a.id, a.state, a.severity, a.ts) for a in published]
        assert cut == [(f"{CUT3}.1", "firing", "critical", NOW + 3)]
        assert "over_temperature (fault code 2)" in published[0].message
        await p.handle([item(tel(s, 30.0)) for s in range(6, 9)])  # the pile's code clears
        await p.tick(NOW + 600)
        assert len(published) == 1, "latched: a cleared code resolves nothing"
        assert [a.id for a in p.state.alerts(open_only=True)] == [f"{CUT3}.1"]

        row = p.acknowledge(f"{CUT3}.1", "operator-li", clock.time())
        assert (row.state, row.acked_by) == ("resolved", "operator-li")
        await p.tick(NOW + 601)
        assert [(a.id, a.state, a.ts) for a in published[1:]] == [(f"{CUT3}.1", "resolved", NOW + 8)]

        await p.handle([item(tel(s, 30.0, faults={3: 2})) for s in (9, 10, 12)])  # tripped again
        # the agent's interlock on port 5 (seq 11), arriving late behind the live stream: still a cut
        await p.handle([item(interlock(11, NOW + 11, port=5))])
        assert p.metrics.get("cw_analytics_late_total") == 1
        fresh = [(a.id, a.state) for a in published[2:]]
        assert fresh == [(f"{CUT3}.2", "firing"), ("d1.5.port_cut.1", "firing")]
        assert "agent's interlock: socket_temp 86.0 (limit 85.0)" in published[3].message
        other = p.acknowledge("d1.5.port_cut.1", "operator-li", clock.time())
        assert other.state == "resolved"
        await p.tick(NOW + 602)
        doc = await rec.lookup(f"{CUT3}.2")
        assert doc is not None, "a port cut keeps its evidence like every alert"
        assert doc["kind"] == "port_cut"
        assert doc["port"] == 3
        cut5 = await rec.lookup("d1.5.port_cut.1")
        assert cut5 is not None
        assert [(e["kind"], e["port"], e["data"]["rule"]) for e in cut5["events"]] == [
            ("interlock", 5, "socket_temp")
        ], "the agent's cut is in its own evidence"

    published.clear()
    async with (
        SQLiteStore(tmp_path / "store.sqlite") as store,
        Spool(tmp_path / "spool.sqlite", store) as spool,
    ):
        restarted = pipeline(tmp_path, spool, None, published)
        restarted.acknowledge(f"{CUT3}.2", "operator-li", clock.time())
        await restarted.tick(NOW + 603)
        # after a restart: port 3 still shows the code its acknowledged cut was raised for (no
        # page); port 4 shows a trip nobody has seen (a page)
        await restarted.handle([item(tel(s, 30.0, faults={3: 2, 4: 1})) for s in (30, 31)])
        assert [(a.id, a.state) for a in published] == [
            (f"{CUT3}.2", "resolved"),
            ("d1.4.port_cut.1", "firing"),
        ]

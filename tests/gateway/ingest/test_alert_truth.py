"""Alerts that stay right through reordering, restarts and outages (issue 9), at the pipeline:
real IngestPipeline, IngestState, Spool and SQLite store; time is the messages' and an injected
clock's, never slept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Literal

import msgspec
import pytest

from chargewatch import topics
from chargewatch.clock import ManualClock
from chargewatch.messages import Alert, Event, Status, Telemetry, decode_message, encode
from gateway.ingest.alerts import ThresholdRule
from gateway.ingest.dedupe import SeqState, SeqTracker
from gateway.ingest.eventtime import EventClock
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.state import IngestState
from gateway.ingest.validate import TimePolicy
from gateway.liveness import Liveness
from gateway.metrics import Metrics
from gateway.spool import Spool
from gateway.store import SQLiteStore
from gateway.store.errors import StoreUnavailableError

NOW = 1_750_000_000.0
Item = tuple[str, bytes, float]


def _tel(seq: int, temp: float, device: str = "d1") -> Telemetry:
    column: list[float | None] = [temp, *[30.0] * 9]  # cw-pile-10 has 10 ports
    return Telemetry(
        device=device,
        boot=1,
        seq=seq,
        ts=NOW + seq,
        model="cw-pile-10",
        ports={"socket_temp": column},
    )


def _item(seq: int, temp: float, received: float = NOW + 40) -> Item:
    return topics.device_topic("d1", topics.TELEMETRY), encode(_tel(seq, temp)), received


def test_event_clock_orders_a_batch_and_holds_back_late_data() -> None:
    clock = EventClock({"d1": NOW + 5})
    msgs = [_tel(9, 30.0), _tel(7, 30.0), _tel(3, 30.0), _tel(8, 30.0)]
    assert [m.seq for m in clock.live(msgs)] == [7, 8, 9]  # ordered; seq 3 is behind the watermark
    assert clock.late_total == 1
    assert clock.mark("d1") == NOW + 9


class _Run:
    """An ingest pipeline over a real spool and SQLite store; records what it publishes."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.published: list[Alert] = []
        self.state = IngestState(tmp / "state.sqlite")
        self.liveness = Liveness(90.0)

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[tuple[IngestPipeline, SQLiteStore, Spool]]:
        """A pipeline over a fresh SQLite store and spool in the run's folder."""
        async with (
            SQLiteStore(self.tmp / "store.sqlite") as store,
            Spool(self.tmp / "spool.sqlite", store) as spool,
        ):
            yield self.pipeline(spool), store, spool

    def pipeline(self, spool: Spool) -> IngestPipeline:
        tracker = SeqTracker()
        tracker.load(self.state.load_marks())
        return IngestPipeline(
            site="s",
            spool=spool,
            state=self.state,
            tracker=tracker,
            analytics=ThresholdRule(limit=80.0, clear_below=70.0, samples=2),
            liveness=self.liveness,
            metrics=Metrics(),
            policy=TimePolicy(3600.0, 86400.0),
            publish=self._publish,
        )

    def _publish(self, topic: str, payload: bytes, retain: bool) -> None:
        msg = decode_message(payload)
        assert isinstance(msg, Alert)
        self.published.append(msg)


async def _stored_alerts(store: SQLiteStore) -> list[tuple[int, str, str]]:
    rows = await store.series("alert", ["id", "state"], {}, 0, 2**62)
    return sorted((r.ts, str(r.fields["id"]), str(r.fields["state"])) for r in rows)


async def test_backlog_behind_live_neither_resolves_nor_reopens_and_history_is_stored(
    tmp_path: Path,
) -> None:
    run = _Run(tmp_path)
    async with run.open() as (p, store, spool):
        await p.handle([_item(0, 30.0), _item(1, 30.0)])
        await p.handle([_item(10, 90.0), _item(11, 91.0)])  # fires at seq 11
        # the broker blipped: live data first (still hot), then the backlog of seqs 2..9 (cool)
        await p.handle([_item(20, 92.0), _item(21, 93.0)])
        await p.handle([_item(s, 30.0) for s in range(2, 10)])
        await p.handle([_item(22, 94.0)])
        assert [(a.id, a.state, a.ts) for a in run.published] == [
            ("d1.0.socket_temp_high.1", "firing", NOW + 11)
        ]
        assert p.metrics.get("cw_analytics_late_total") == 8
        await p.handle([_item(30, 50.0)])  # live data cools: resolves, with its source time
        assert [(a.state, a.ts) for a in run.published[1:]] == [("resolved", NOW + 30)]
        await spool.flush()
        published = sorted((int(a.ts * 1000), a.id, a.state) for a in run.published)
        assert await _stored_alerts(store) == published
        # a restart replays exactly the published changes: the stored history does not move
        assert await run.pipeline(spool).replay_alerts() == len(published)
        await spool.flush()
        assert await _stored_alerts(store) == published


async def test_will_pages_once_planned_stop_pages_nothing_and_own_outage_pages_nothing(
    tmp_path: Path,
) -> None:
    run = _Run(tmp_path)
    async with run.open() as (p, _store, _spool):
        topic = topics.agent_status_topic("a1")

        def status(online: bool, ts: float, *, planned: bool = False) -> Item:
            st = Status(agent="a1", online=online, boot=3, ts=ts, devices=["d1", "d2"], planned=planned)
            return topic, encode(st), ts

        await p.handle([status(True, NOW), _item(0, 30.0, NOW)])
        # the gateway's own link is down for longer than offline_after: nobody goes offline
        run.liveness.pause()
        await p.tick(NOW + 300)
        run.liveness.resume(NOW + 300)
        await p.tick(NOW + 301)
        assert run.published == []
        # the will (stamped with the connect time, older than the statuses since) pages the agent once
        await p.handle([status(True, NOW + 330)])
        await p.handle([status(False, NOW)])
        await p.tick(NOW + 500)
        assert [(a.id, a.state) for a in run.published] == [("a1.-.agent_offline.1", "firing")]
        await p.handle([status(True, NOW + 600)])
        await p.handle([status(False, NOW + 700, planned=True)])
        await p.tick(NOW + 900)
        assert [(a.id, a.state) for a in run.published[1:]] == [("a1.-.agent_offline.1", "resolved")]
        assert not run.liveness.online("d1")


async def test_a_gap_waits_until_the_agent_says_it_holds_nothing_older() -> None:
    live = Liveness(90.0)
    tracker = SeqTracker(gap_timeout=30.0)
    health = {"outbox_depth": 500.0, "outbox_oldest_age_s": 40.0}
    draining = Status(agent="a1", online=True, boot=1, ts=NOW, devices=["d1"], health=health)
    live.status("a1", draining, NOW)  # reconnected with 40 s of backlog, drain not started
    tracker.observe("d1", 1, 0, NOW)
    tracker.observe("d1", 1, 10, NOW + 1)  # seqs 1..9 missing since NOW + 1 (live went first)

    def due(t: float) -> list[int]:
        return [g.size for g in tracker.due_gaps(t, live.draining, hold_max=150.0)]

    assert due(NOW + 60) == []  # the agent still holds rows from before the gap
    settled = msgspec.structs.replace(draining, health={"outbox_depth": 3.0, "outbox_oldest_age_s": 0.2})
    live.status("a1", settled, NOW + 70)  # drained (the missing seqs were not in it)
    assert due(NOW + 71) == [9]
    # a second gap with an agent that never reports again is called after hold_max
    tracker.observe("d1", 1, 20, NOW + 80)
    assert due(NOW + 200) == []
    assert due(NOW + 231) == [9]


async def test_a_batch_is_judged_at_its_latest_receipt_whatever_its_order(tmp_path: Path) -> None:
    """A will received after copies held back from earlier pages at the will's receipt, not
    before it (CI: a partition's page landed in the previous fault's window)."""
    run = _Run(tmp_path)
    async with run.open() as (p, _store, _spool):
        topic = topics.agent_status_topic("a1")
        up = Status(agent="a1", online=True, boot=3, ts=NOW, devices=["d1"])
        await p.handle([(topic, encode(up), NOW), _item(0, 30.0, NOW)])
        will = Status(agent="a1", online=False, boot=3, ts=NOW, devices=["d1"])
        await p.handle([(topic, encode(will), NOW + 60), _item(1, 30.0, NOW + 20)])
        assert [(a.id, a.state, a.ts) for a in run.published] == [
            ("a1.-.agent_offline.1", "firing", NOW + 60)
        ]


def test_after_a_restart_a_known_device_holds_its_gap_until_its_agent_reports() -> None:
    """A gateway killed with messages not yet spooled: the agent resends them, but the restarted
    gateway sees newer ones first and has not heard the agent's status yet."""
    live = Liveness(90.0)
    live.restored(["d1"])  # seq marks in the state db from before the kill
    tracker = SeqTracker(gap_timeout=30.0)
    tracker.load({("d1", 1): SeqState(hi=99)})
    tracker.observe("d1", 1, 105, NOW)  # 100..104 died with the old gateway

    def due(t: float) -> list[int]:
        return [g.size for g in tracker.due_gaps(t, live.draining, hold_max=150.0)]

    assert due(NOW + 40) == []  # past the gap time-out, but nobody knows yet what the agent holds
    holding = {"outbox_depth": 6.0, "outbox_oldest_age_s": 45.0}
    live.status(
        "a1", Status(agent="a1", online=True, boot=1, ts=NOW, devices=["d1"], health=holding), NOW + 41
    )
    assert due(NOW + 42) == []  # it holds rows from before the gap: the resend will fill it
    empty = {"outbox_depth": 0.0, "outbox_oldest_age_s": 0.0}
    live.status("a1", Status(agent="a1", online=True, boot=1, ts=NOW, devices=["d1"], health=empty), NOW + 50)
    assert due(NOW + 51) == [5]  # it holds nothing: the seqs are lost, and said so once
    # a device first heard of in this run, never in any agent's status, is judged on time alone
    tracker.observe("d9", 1, 0, NOW)
    tracker.observe("d9", 1, 3, NOW + 1)
    assert due(NOW + 32) == [2]


class _HungStore(SQLiteStore):
    """A store whose writes hang until released (the HTTP store's read time-out, scaled down)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.fail = False

    async def write(self, lines: Sequence[str]) -> None:
        self.started.set()
        await self.release.wait()
        if self.fail:
            raise StoreUnavailableError("hung", "read timed out")


async def test_a_hung_store_degrades_from_its_first_unanswered_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.spool")
    clock = ManualClock()
    store = _HungStore(tmp_path / "store.sqlite")
    async with Spool(
        tmp_path / "spool.sqlite", store, degraded_after=45.0, interval=0.01, clock=clock
    ) as spool:
        await spool.append(["m f=1 1"])
        await asyncio.wait_for(store.started.wait(), 5)
        clock.advance(44.0)
        assert not spool.stats().degraded
        clock.advance(1.0)
        st = spool.stats()
        assert st.degraded
        assert "unanswered for 45 s" in st.last_error
        store.fail = True
        store.release.set()  # the time-out finally comes back: still counted from the write's start
        for _ in range(100):
            await asyncio.sleep(0.01)
            if spool.stats().write_errors:
                break
        assert spool.stats().failing_s >= 45.0
        store.fail = False
        await spool.flush()
        st = spool.stats()
        assert (st.degraded, st.last_error, st.failing_s) == (False, "", 0.0)
    recovered = [r.getMessage() for r in caplog.records if "store_write_recovered" in r.getMessage()]
    assert len(recovered) == 1
    assert "down_s=45.0" in recovered[0]  # from the first unanswered write, not from its time-out


async def test_the_agents_device_down_pages_the_device_and_device_up_clears_it(tmp_path: Path) -> None:
    run = _Run(tmp_path)
    async with run.open() as (p, _store, _spool):

        def event(seq: int, kind: Literal["device_down", "device_up"]) -> Item:
            ev = Event(device="d1", boot=1, seq=seq, ts=NOW + seq, kind=kind)
            return topics.device_topic("d1", topics.EVENT), encode(ev), NOW + seq

        await p.handle([_item(0, 30.0, NOW)])
        await p.handle([event(1, "device_down")])
        await p.handle([_item(2, 30.0, NOW + 2), event(3, "device_up")])
        assert [(a.id, a.state) for a in run.published] == [
            ("d1.-.device_offline.1", "firing"),
            ("d1.-.device_offline.1", "resolved"),
        ]

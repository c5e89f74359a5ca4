"""The durable spool: batching, dead letters, config errors, outages and kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from chargewatch.clock import ManualClock
from chargewatch.retry import Backoff
from gateway.lineproto import line
from gateway.spool import Spool
from gateway.store import InfluxV1Store, PartialWriteError, StoreConfigError, StoreUnavailableError
from gateway.store.base import Row
from tests.gateway.store.fake_http import Script, scripted_server
from tests.support.servers import InfluxDB1

T0 = 1_750_000_000_000
FAST = Backoff(initial=0.01, cap=0.05)
REPO = Path(__file__).resolve().parents[3]


class FakeStore:
    """Records writes; fails while ``fail`` is set; rejects lines containing ``BAD``."""

    name = "fake"

    def __init__(self) -> None:
        self.written: list[str] = []
        self.calls = 0
        self.fail: Exception | None = None

    async def write(self, lines: Sequence[str]) -> None:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        bad = [(text, "scripted reject") for text in lines if "BAD" in text]
        self.written += [text for text in lines if "BAD" not in text]
        if bad:
            raise PartialWriteError(self.name, bad, len(lines) - len(bad))

    async def last(self, measurement: str, where: object = None) -> list[Row]:
        raise NotImplementedError

    async def series(self, *args: object) -> list[Row]:
        raise NotImplementedError

    async def count(self, *args: object) -> int:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


def _lines(start: int, n: int, measurement: str = "m") -> list[str]:
    return [line(measurement, {"d": "x"}, {"seq": float(i)}, T0 + i) for i in range(start, start + n)]


def _depth(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT coalesce(sum(n), 0) FROM batch").fetchone()[0])


async def _until(cond: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.005)):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"condition not met within {seconds} s")


def _run_and_kill(argv: list[str], env: dict[str, str], path: Path, target: int) -> int:
    """Start the writer process, SIGKILL it once the spool depth is <= ``target``; the depth after."""
    child = subprocess.Popen(argv, cwd=REPO, env=env)
    try:
        for _ in range(6000):
            if child.poll() is not None or _depth(path) <= target:
                break
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    return _depth(path)


async def test_flushes_on_count_before_the_interval(tmp_path: Path) -> None:
    store = FakeStore()
    async with Spool(tmp_path / "s.db", store, batch_lines=10, interval=3600) as spool:
        await spool.append(_lines(0, 4))
        await asyncio.sleep(0.05)
        assert store.written == []
        await spool.append(_lines(4, 6))
        await _until(lambda: spool.stats().depth_lines == 0)
        assert store.written == _lines(0, 10)
        assert spool.stats().written_lines == 10


async def test_flushes_on_interval_and_keeps_order(tmp_path: Path) -> None:
    store = FakeStore()
    async with Spool(tmp_path / "s.db", store, batch_lines=1000, interval=0.05) as spool:
        for k in range(5):
            await spool.append(_lines(k * 3, 3), meta=f"b{k}")
        await _until(lambda: spool.stats().depth_lines == 0)
    assert store.written == _lines(0, 15)


async def test_rejected_lines_are_dead_lettered_with_reason_and_meta(tmp_path: Path) -> None:
    store = FakeStore()
    async with Spool(tmp_path / "s.db", store, batch_lines=100, interval=3600) as spool:
        await spool.append([*_lines(0, 3), "BAD line"], meta="pile-1/1/7")
        await spool.flush()
        stats = spool.stats()
        assert (stats.depth_lines, stats.dead_letters, stats.written_lines) == (0, 1, 3)
        (dead,) = await spool.dead_letters()
        assert (dead.line, dead.reason, dead.meta) == ("BAD line", "scripted reject", "pile-1/1/7")


async def test_config_error_keeps_data_and_degrades_on_the_injected_clock(tmp_path: Path) -> None:
    store = FakeStore()
    store.fail = StoreConfigError("fake", "HTTP 401", 401)
    clock = ManualClock()
    path = tmp_path / "s.db"
    async with Spool(
        path, store, batch_lines=5, interval=0.01, degraded_after=30, clock=clock, backoff=FAST
    ) as sp:
        await sp.append(_lines(0, 5))
        with pytest.raises(StoreConfigError):
            await sp.flush()
        await _until(lambda: sp.stats().write_errors >= 3)
        assert sp.stats().config_error
        assert not sp.stats().degraded
        clock.advance(31)
        stats = sp.stats()
        assert stats.degraded
        assert stats.depth_lines == 5
        assert stats.oldest_age_s == 31
    async with Spool(path, store, batch_lines=5, interval=0.01, clock=clock) as reopened:
        assert reopened.stats().depth_lines == 5
        store.fail = None
        await reopened.flush()
        assert not reopened.stats().degraded
    assert store.written == _lines(0, 5)


async def test_5xx_and_timeouts_through_the_real_http_store_then_drained(tmp_path: Path) -> None:
    script = Script([503, 0, 429, 500, 502, 503])
    async with (
        scripted_server(script) as url,
        InfluxV1Store(url, "cw", timeout=0.2, retry=Backoff(initial=0.01, cap=0.02, attempts=2)) as store,
        Spool(tmp_path / "s.db", store, batch_lines=3, interval=0.01, backoff=FAST) as spool,
    ):
        await spool.append(_lines(0, 3))
        await _until(lambda: spool.stats().depth_lines == 0)
        assert spool.stats().write_errors == 3
        assert spool.stats().written_lines == 3
    assert script.requests[-1] == "\n".join(_lines(0, 3)).encode()
    assert len(script.requests) == 7


@pytest.mark.integration
async def test_influxdb_killed_under_load_loses_nothing_and_duplicates_nothing(
    influxdb: InfluxDB1, tmp_path: Path
) -> None:
    total = 0
    async with (
        InfluxV1Store(
            influxdb.url, "cw", timeout=1.0, retry=Backoff(initial=0.05, cap=0.1, attempts=2)
        ) as store,
        Spool(
            tmp_path / "s.db", store, batch_lines=500, interval=0.05, degraded_after=0.5, backoff=FAST
        ) as spool,
    ):
        for round_ in range(3):
            for _ in range(20):
                await spool.append(_lines(total, 100, "load"))
                total += 100
                await asyncio.sleep(0.005)
            (influxdb.kill if round_ % 2 == 0 else influxdb.stop)()
            for _ in range(20):
                await spool.append(_lines(total, 100, "load"))
                total += 100
            await _until(lambda: spool.stats().degraded)
            assert spool.stats().depth_lines > 0
            await asyncio.to_thread(influxdb.start)
            await _until(lambda: spool.stats().depth_lines == 0, seconds=30)
            assert not spool.stats().degraded
        assert await store.count("load", "seq", None, T0, T0 + total) == total
        sums = await store.query('SELECT count("seq"), sum("seq") FROM "load"')
        assert sums[0]["values"][0][1:] == [total, total * (total - 1) / 2]


@pytest.mark.integration
async def test_writer_killed_mid_drain_loses_nothing(influxdb: InfluxDB1, tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = FakeStore()
    store.fail = StoreUnavailableError("fake", "down")
    total = 60_000
    async with Spool(path, store, interval=3600) as spool:
        for k in range(0, total, 500):
            await spool.append(_lines(k, 500, "kill"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "tests.gateway.store.spool_child", str(path), influxdb.url]
    depths: list[int] = []
    for target in (45_000, 30_000, 15_000, 5_000):  # kill at these depths, whatever the speed
        depths.append(await asyncio.to_thread(_run_and_kill, argv, env, path, target))
    assert any(0 < d < total for d in depths), f"no kill landed mid-drain: depths {depths}"
    final = await asyncio.to_thread(subprocess.run, argv, cwd=REPO, env=env, timeout=60, check=True)
    assert final.returncode == 0
    async with InfluxV1Store(influxdb.url, "cw") as reader:
        sums = await reader.query('SELECT count("seq"), sum("seq") FROM "kill"')
    assert sums[0]["values"][0][1:] == [total, total * (total - 1) / 2]
    print(f"\nwriter SIGKILLed {len(depths)} times, spool depth after each {depths}; {total} stored once")


class _GatedStore(FakeStore):
    """Holds every write until released; records how many were in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.peak = 0
        self.release = asyncio.Event()

    async def write(self, lines: Sequence[str]) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.release.wait()
            if self.fail is not None and lines[0] == _lines(0, 1)[0]:
                raise self.fail  # only the oldest chunk fails
            self.written += lines
        finally:
            self.in_flight -= 1


async def test_backlog_writes_two_chunks_at_once_and_keeps_a_failed_one(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with Spool(path, FakeStore(), batch_lines=100, interval=3600) as spool:
        for start in (0, 10, 20):
            await spool.append(_lines(start, 10))  # a backlog of three 10-line batches
    store = _GatedStore()
    store.fail = StoreUnavailableError("fake", "down")
    async with Spool(path, store, batch_lines=10, interval=0.05, backoff=FAST) as spool:
        await _until(lambda: store.in_flight == 2)
        store.release.set()
        await _until(lambda: spool.stats().depth_lines == 20)  # the second chunk is deleted
        assert store.peak == 2
        assert _depth(path) == 20
        store.fail = None
        await _until(lambda: spool.stats().depth_lines == 0)
    assert sorted(store.written) == sorted(_lines(0, 30))

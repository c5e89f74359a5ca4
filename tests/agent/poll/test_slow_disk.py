"""A slow or hung disk must not delay a safety interlock.

The outbox's commits (one fsync each) are faked slow: 30 ms and 300 ms sleeps, or blocked on an
event the test holds. The interlock must still trip at the first poll that reads the critical
temperature, and polls go on while a commit waits for the disk. The measured latency (critical
value served → relay write received by the device) is printed, never asserted.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from chargewatch.messages import Event, Telemetry, decode_device_message
from chargewatch.profiles import find_profile
from edge_agent.agent import Agent
from edge_agent.config import AgentConfig, DeviceConfig, InterlockConfig, TcpBus, validate_config
from edge_agent.outbox import Outbox, OutboxSettings
from tests.agent.poll.fakes import FakeBus, FakeDevice
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

POLL_S = 0.1
HOT_PORT = 3
CRITICAL_C = 90.0
TRIPS = 8


def _agent(port: int, tmp_path: Path) -> Agent:
    bus = TcpBus(
        name="bus1",
        host="127.0.0.1",
        port=port,
        timeout_s=0.04,
        retries=1,
        devices=[DeviceConfig(id="p1", unit=1, model="cw-pile-10", poll_s=POLL_S)],
    )
    raw = AgentConfig(
        agent_id="a1",
        buses=[bus],
        interlocks=InterlockConfig(critical_socket_temp_c=CRITICAL_C, confirm_samples=1),
        outbox=OutboxSettings(path=str(tmp_path / "outbox.sqlite3"), synchronous="normal"),
    )
    return Agent(validate_config(raw, tmp_path / "agent.yaml"))


class _StampedWrites(list[tuple[str, int, list[int]]]):
    """The fake device's write log, with the perf_counter time of each write."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    def append(self, item: tuple[str, int, list[int]]) -> None:
        self.at.append(time.perf_counter())
        super().append(item)


class _DeviceThread:
    """Serves ``fake`` from its own thread and event loop, so the device's time runs on whatever
    the agent's loop does (a real device does not wait for the agent)."""

    def __init__(self, fake: FakeDevice, port: int) -> None:
        self.fake = fake
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), name="fake-device")

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with FakeBus([self.fake], port=self.port):
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> _DeviceThread:
        self._thread.start()
        assert self._ready.wait(10.0), "fake device did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10.0)


async def _until(cond: Callable[[], bool], within: float = 10.0) -> None:
    """Check ``cond`` (state of the served device) every 10 ms for at most ``within`` s."""
    async with asyncio.timeout(within):
        for _ in range(int(within / 0.01) + 2):
            if cond():
                return
            await asyncio.sleep(0.01)


def _slow_commit(monkeypatch: pytest.MonkeyPatch, wait: Callable[[], object]) -> None:
    real = Outbox._commit

    def slow(self: Outbox) -> None:
        wait()
        real(self)

    monkeypatch.setattr(Outbox, "_commit", slow)


def _longer(items: list[tuple[str, int, list[int]]], n: int) -> bool:
    return len(items) > n


def _heat(fake: FakeDevice, at: list[float]) -> None:
    fake.set("socket_temp", CRITICAL_C + 5, HOT_PORT)
    at.append(time.perf_counter())


def _trip_follows_first_hot_poll(msgs: list[Telemetry | Event]) -> Iterator[tuple[int, int]]:
    """(interlock event seq, seq of the first telemetry that read the critical value) per trip."""
    hot_seen = False
    pending: int | None = None
    for m in sorted(msgs, key=lambda m: m.seq):
        if isinstance(m, Event) and m.kind == "interlock":
            pending = m.seq
        elif isinstance(m, Telemetry):
            hot = (m.ports["socket_temp"][HOT_PORT] or 0.0) >= CRITICAL_C
            if hot and not hot_seen:
                yield (pending if pending is not None else -1, m.seq)
            hot_seen, pending = hot, None


@pytest.mark.parametrize("fsync_s", [0.03, 0.3])
async def test_interlock_latency_with_a_slow_fsync(
    fsync_s: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_commit(monkeypatch, lambda: time.sleep(fsync_s))
    fake = FakeDevice(find_profile("cw-pile-10"), 1)
    fake.fill_normal()
    writes = _StampedWrites()
    fake.writes = writes
    port = free_port()
    latencies: list[float] = []
    rng = random.Random(7)
    with _DeviceThread(fake, port):
        async with _agent(port, tmp_path) as agent:
            device = agent.buses["bus1"].devices["p1"]
            for _ in range(TRIPS):
                await _until(lambda: device.polls >= 3)
                heated: list[float] = []
                n = len(writes)
                heat = threading.Timer(rng.uniform(0.0, 0.5), _heat, (fake, heated))
                heat.start()
                await _until(partial(_longer, writes, n))
                heat.join()
                latencies.append(writes.at[n] - heated[0])
                device.polls = 0
                await _until(lambda: device.polls >= 2)  # the trip's read-back is done
                fake.set("socket_temp", 30.0, HOT_PORT)
                fake.set("relay_on", 1, HOT_PORT)
                device.polls = 0
            await agent.group.flush()
            msgs = [decode_device_message(r.payload) for r in await agent.store.run(agent.outbox.pending)]
    pairs = list(_trip_follows_first_hot_poll(msgs))
    assert len(pairs) == TRIPS
    assert all(trip == hot - 1 for trip, hot in pairs), pairs
    print(
        f"\ninterlock latency, fsync {fsync_s * 1000:.0f} ms, poll {POLL_S * 1000:.0f} ms: "
        f"mean {statistics.mean(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
        f"over {TRIPS} trips"
    )


async def test_interlock_trips_while_the_disk_hangs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = threading.Event()
    _slow_commit(monkeypatch, lambda: disk.wait(10.0))
    fake = FakeDevice(find_profile("cw-pile-10"), 1)
    fake.fill_normal()
    port = free_port()
    async with FakeBus([fake], port=port), _agent(port, tmp_path) as agent:
        try:
            device = agent.buses["bus1"].devices["p1"]
            await _until(lambda: device.polls >= 3)
            assert agent.group.commits == 0, "the first commit is still waiting for the disk"
            polls = device.polls
            fake.set("socket_temp", CRITICAL_C + 5, HOT_PORT)
            await _until(lambda: fake.get("relay_on", HOT_PORT) == 0.0)
            await _until(lambda: device.polls >= polls + 3)
            assert agent.trips == 1
            assert agent.group.commits == 0, "the trip did not wait for the disk"
        finally:
            disk.set()
        await agent.group.flush()
        msgs = [decode_device_message(r.payload) for r in await agent.store.run(agent.outbox.pending)]
    pairs = list(_trip_follows_first_hot_poll(msgs))
    assert len(pairs) == 1
    trip, hot = pairs[0]
    assert trip == hot - 1, "the interlock acted on the first poll that read the critical value"

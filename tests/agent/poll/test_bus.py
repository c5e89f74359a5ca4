"""The bus coordinator against real pymodbus servers over TCP and RTU on a socat pty."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random

import pytest

from chargewatch.profiles import find_profile
from edge_agent.modbus import BusClient, BusCoordinator, Decoded, PolledDevice, plan_blocks
from edge_agent.modbus.errors import DeviceTimeoutError, ResponseMismatchError
from tests.agent.poll.conftest import BusMaker

pytestmark = pytest.mark.integration


class Recorder:
    """Collects poll results and status changes with loop timestamps."""

    def __init__(self) -> None:
        self.polls: dict[str, list[tuple[float, Decoded]]] = {}
        self.status: list[tuple[str, bool]] = []

    async def on_poll(self, dev: PolledDevice, ts: float, d: Decoded) -> None:
        self.polls.setdefault(dev.cfg.id, []).append((asyncio.get_running_loop().time(), d))

    async def on_status(self, dev: PolledDevice, ts: float, up: bool, reason: str) -> None:
        self.status.append((dev.cfg.id, up))


async def test_unplugged_device_does_not_stall_the_others(
    make_bus: BusMaker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent")
    devices = [("p1", 1, "cw-pile-10"), ("p2", 2, "cw-pile-10"), ("k3", 3, "cw-blocker")]
    async with make_bus(
        devices, poll_s=0.25, timeout_s=0.1, retries=1, drain_s=0.1, backoff_initial_s=0.8, backoff_cap_s=1.6
    ) as (cfg, fakes):
        rec = Recorder()
        async with BusCoordinator(
            cfg, {m: find_profile(m) for _, _, m in devices}, rec.on_poll, rec.on_status
        ):
            await asyncio.sleep(0.8)
            fakes[1].responding = False
            loop = asyncio.get_running_loop()
            cut = loop.time()
            await asyncio.sleep(2.5)
            fakes[1].responding = True
            back = loop.time()
            await asyncio.sleep(2.0)
    assert rec.status == [("p2", False), ("p2", True)]
    for dev in ("p1", "k3"):
        during = [t for t, _ in rec.polls[dev] if cut + 1.0 < t < back]
        gaps = [b - a for a, b in itertools.pairwise(during)]
        # once p2 is down a healthy device keeps its 0.25 s rhythm, give or take one probe
        # of the dead unit (a 0.1 s timeout plus, on RTU, a 0.1 s drain)
        assert len(during) >= 4, during
        assert max(gaps) < 0.25 + 0.2 + 0.1, gaps
    assert any(t > back for t, _ in rec.polls["p2"])
    downs = [r for r in caplog.records if r.getMessage().startswith("device_down")]
    ups = [r for r in caplog.records if r.getMessage().startswith("device_up")]
    assert len(downs) == 1
    assert len(ups) == 1
    assert "device=p2" in downs[0].getMessage()


async def test_late_responses_are_never_misattributed(make_bus: BusMaker) -> None:
    """Every accepted read must carry the stamp of the request that asked for it (ground truth)."""
    devices = [("p1", 1, "cw-pile-10"), ("p2", 2, "cw-pile-10")]
    timeout = 0.08
    async with make_bus(devices, poll_s=1.0, timeout_s=timeout, retries=0, drain_s=0.15) as (cfg, fakes):
        rng = random.Random(7)
        blocks = [b for b in plan_blocks(find_profile("cw-pile-10")) if b.table in ("input", "holding")]
        for fake in fakes:
            fake.stamp_requests = True
        sent = {1: 0, 2: 0}
        accepted = rejected = 0
        async with BusClient(cfg) as client:
            for _ in range(150):
                unit = rng.choice((1, 2))
                block = rng.choice(blocks)
                fake = fakes[unit - 1]
                late = rng.random() < 0.2
                fake.delays.append(
                    rng.uniform(timeout * 1.1, timeout * 2.2) if late else rng.uniform(0, timeout * 0.3)
                )
                sent[unit] += 1
                try:
                    regs = await client.request(unit, block.table, block.address, block.count)
                except (DeviceTimeoutError, ResponseMismatchError):
                    rejected += 1
                    continue
                accepted += 1
                assert regs[0] == sent[unit] & 0xFFFF, "response attributed to the wrong request"
                assert regs[1:] == fake.tables[block.table][block.address + 1 : block.end]
            stats = client.stats
    print(
        f"\nlate-response check: {accepted} accepted, {rejected} rejected, "
        f"timeouts={stats.timeouts} mismatches={stats.mismatches} drains={stats.drains}"
    )
    assert accepted > 90
    assert rejected >= 15

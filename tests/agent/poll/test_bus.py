"""The bus client against fake pymodbus servers over TCP and RTU on a socat pty.

A fake is needed here: it stamps each answer with its request number and answers late on
demand, which the simulator cannot. Device silence on a shared line is tested against the
real simulator in ``tests/agent/sim/test_sim_bus.py``."""

from __future__ import annotations

import random

import pytest

from chargewatch.profiles import find_profile
from edge_agent.modbus import BusClient, plan_blocks
from edge_agent.modbus.errors import DeviceTimeoutError, ResponseMismatchError
from tests.agent.poll.conftest import BusMaker

pytestmark = pytest.mark.integration


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

"""A slow fsync must not multiply: every bus's writes of one loop tick share one group commit.

Each outbox commit is made to block the loop for 30 ms (a slow flash fsync). Four piles on
four buses polled every 0.1 s would need 40 commits per second (1.2 s of blocking per second)
if each poll committed alone; with the group commit they keep their rhythm and the commits
are a fraction of the polls.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from chargewatch.errors import ChargeWatchError
from edge_agent.agent import Agent
from edge_agent.config import validate_config
from edge_agent.outbox import GroupCommit, Outbox, OutboxError, OutboxWriter
from firmware_sim import SiteRunner
from tests.agent.sim.support import agent_buses, agent_config, make_site, outbox_settings

pytestmark = pytest.mark.integration

SLOW_S = 0.03
POLL_S = 0.1


async def test_slow_fsync_is_shared_by_every_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_commit = Outbox._commit

    def slow_commit(self: Outbox) -> None:
        time.sleep(SLOW_S)
        real_commit(self)

    monkeypatch.setattr(Outbox, "_commit", slow_commit)
    devices = [(f"p{i}", "cw-pile-10") for i in range(4)]
    site = make_site(tmp_path, "tcp", devices, shared=False)
    async with SiteRunner(site, speed=1.0) as runner:
        cfg = agent_config(
            agent_buses(runner, poll_s=POLL_S, timeout_s=0.04, retries=1), outbox_settings(tmp_path)
        )
        async with Agent(validate_config(cfg, tmp_path / "agent.yaml")) as agent:
            await asyncio.sleep(0.5)
            polls0 = {d: dev.polls for b in agent.buses.values() for d, dev in b.devices.items()}
            commits0, writes0 = agent.group.commits, agent.group.writes
            await asyncio.sleep(3.0)
            polls = {d: dev.polls - polls0[d] for b in agent.buses.values() for d, dev in b.devices.items()}
            commits = agent.group.commits - commits0
            writes = agent.group.writes - writes0
    expected = 3.0 / POLL_S
    for dev, n in polls.items():
        assert n >= 0.7 * expected, f"{dev} polled {n} times in 3 s, expected about {expected:.0f}"
    assert commits <= writes / 2, f"{commits} commits for {writes} writes: polls were not grouped"
    print(
        f"\nslow fsync ({SLOW_S * 1000:.0f} ms): {sum(polls.values())} polls of 4 buses in 3 s "
        f"({min(polls.values())}..{max(polls.values())} per pile), {commits} commits for {writes} writes"
    )


async def test_a_failed_commit_is_reported_and_stops_the_owner(tmp_path: Path) -> None:
    failures: list[BaseException] = []
    box = Outbox(outbox_settings(tmp_path))
    box.open()
    async with GroupCommit(OutboxWriter.inline(box), failures.append) as group:
        box.close()
        group.stage(lambda: box.add_event("p1", 1.0, "alarm", None, {}))
        for _ in range(100):
            if failures:
                break
            await asyncio.sleep(0.01)
    assert len(failures) == 1
    assert isinstance(failures[0], OutboxError)
    assert isinstance(failures[0], ChargeWatchError)
    assert "not open" in str(failures[0])

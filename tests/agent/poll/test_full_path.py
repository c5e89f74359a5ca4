"""Full path: Modbus devices → agent → real Mosquitto → the acker; every committed seq arrives."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from edge_agent.acker import Acker
from edge_agent.agent import Agent
from edge_agent.config import AgentConfig, validate_config
from edge_agent.mqtt import MqttSettings
from edge_agent.outbox import OutboxSettings, Row
from tests.agent.poll.conftest import BusMaker
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


class Committed:
    """Outbox listener recording every committed (device, boot, seq)."""

    def __init__(self) -> None:
        self.keys: set[tuple[str, int, int]] = set()

    def committed(self, rows: Sequence[Row]) -> None:
        self.keys.update((r.device, r.boot, r.seq) for r in rows)

    def deleted(self, ids: Sequence[int]) -> None:
        """Acked rows are deleted; nothing to record."""


async def test_every_committed_seq_reaches_the_acker(
    make_bus: BusMaker, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    devices = [("p1", 1, "cw-pile-10"), ("p2", 2, "vx-pile-12"), ("k1", 3, "cw-blocker")]
    async with asyncio.timeout(40), make_bus(devices, poll_s=0.1, timeout_s=0.04, retries=1) as (cfg, fakes):
        raw = AgentConfig(
            agent_id="a1",
            buses=[cfg],
            outbox=OutboxSettings(
                path=str(tmp_path / "outbox.sqlite3"), synchronous="normal", reconnect_drain_delay_max=0
            ),
            mqtt=MqttSettings(url=mosquitto.url, client_id="a1", backoff_initial=0.1, backoff_cap=1.0),
        )
        record = Committed()
        async with Acker(mosquitto.url, client_id="acker-test") as acker:
            async with asyncio.timeout(10):
                await acker.wait_ready()
            async with Agent(validate_config(raw, tmp_path / "agent.yaml")) as agent:
                agent.outbox.add_listener(record)
                await asyncio.sleep(1.0)
                fakes[0].set("state", 1, 2)  # a session starts on p1 port 2
                await asyncio.sleep(1.0)
                agent.outbox.remove_listener(record)
                for _ in range(200):
                    if record.keys <= set(acker.seen):
                        break
                    await asyncio.sleep(0.05)
                missing = sorted(record.keys - set(acker.seen))
                assert not missing, f"{len(missing)} of {len(record.keys)} never arrived: {missing[:10]}"
                acked_upto = agent.outbox.last_id()
                for _ in range(100):  # the acker's acks delete what it stored
                    if not agent.outbox.pending(upto_id=acked_upto, limit=1):
                        break
                    await asyncio.sleep(0.05)
                left = [(r.device, r.boot, r.seq) for r in agent.outbox.pending(upto_id=acked_upto)]
                assert not left, (
                    f"{len(left)} rows never acked: {left[:5]}, seen: {[k in acker.seen for k in left[:5]]}"
                )
    assert len(record.keys) >= 3 * 15
    assert {d for d, _, _ in record.keys} == {"p1", "p2", "k1"}
    assert record.keys <= set(acker.seen)
    assert acker.conflicts == 0
    starts = [k for k in acker.events if k[0] == "p1"]
    assert starts, "the session_start event did not arrive"

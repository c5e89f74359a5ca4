"""Full path under a broker crash: simulator → Agent (Modbus TCP or RTU on a pty) → Mosquitto → acker.

Mosquitto (default config: nothing persisted) is killed with SIGKILL while the agent polls and
restarted on the same port. Every (device, boot, seq) the agent committed must reach the
acker, and its acks must delete every one of them from the outbox; re-sent copies carry the
same ts (no seq reused) and are removed by dedupe on (device, boot, seq).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from edge_agent.acker import Acker
from edge_agent.agent import Agent
from edge_agent.config import validate_config
from edge_agent.mqtt import MqttSettings
from firmware_sim import SiteRunner
from tests.agent.sim.support import (
    Committed,
    SimTransport,
    agent_buses,
    agent_config,
    drained,
    make_site,
    outbox_settings,
    until,
)
from tests.support.servers import Mosquitto, PtyPair

pytestmark = pytest.mark.integration

DEVICES = [("p1", "cw-pile-10"), ("p2", "vx-pile-12"), ("k1", "cw-blocker")]


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
async def test_broker_sigkill_while_the_agent_polls_the_simulator(
    transport: SimTransport, mosquitto: Mosquitto, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pty: PtyPair | None = request.getfixturevalue("pty_pair") if transport == "rtu" else None
    site = make_site(tmp_path, transport, DEVICES, pty=pty)
    record = Committed()
    async with (
        SiteRunner(site, speed=10.0) as runner,
        Acker(mosquitto.url, client_id="acker-sim") as acker,
    ):
        cfg = agent_config(
            agent_buses(runner, pty=pty, poll_s=0.1, timeout_s=0.04, retries=1, drain_s=0.05),
            outbox_settings(tmp_path),
            mqtt=MqttSettings(
                url=mosquitto.url, client_id="agent-sim", backoff_initial_s=0.1, backoff_cap_s=0.5
            ),
            health_file=str(tmp_path / "health.json"),
            health_interval_s=0.2,
        )
        async with asyncio.timeout(10):
            await acker.wait_ready()
        async with Agent(validate_config(cfg, tmp_path / "agent.yaml")) as agent:
            assert agent.link is not None
            await agent.store.add_listener(record)
            async with asyncio.timeout(10):
                await agent.link.wait_connected()
            await asyncio.sleep(1.0)
            live = len(record.at)
            mosquitto.kill()
            await asyncio.sleep(1.0)
            mosquitto.start()
            await asyncio.sleep(1.0)
            record.recording = False
            upto = await agent.store.run(agent.outbox.last_id)
            keys = set(record.at)
            await until(lambda: keys <= set(acker.seen), within=15.0)
            await until(lambda: drained(agent, upto), within=10.0)
            health = await agent.refresh_health()
    assert live > 0
    assert len(keys) > 2 * live, "polling went on while the broker was down"
    assert {d for d, _, _ in keys} == {"p1", "p2", "k1"}
    assert acker.conflicts == 0, "a seq was reused with another ts"
    boots = {b for _, b, _ in keys}
    assert len(boots) == 1
    for dev, _ in DEVICES:
        # messages committed after recording stopped may still be in flight: check the recorded range
        last = max(seq for d, _, seq in keys if d == dev)
        seqs = [s for s in acker.seqs(dev, *boots) if s <= last]
        assert seqs == list(range(last + 1)), f"gap in {dev}'s seqs"
    assert health["published"] >= len(keys)
    assert health["acked"] >= len(keys)
    on_disk = json.loads((tmp_path / "health.json").read_text())
    for key in (
        "poll_success_ratio",
        "read_latency_ms",
        "outbox_depth",
        "outbox_oldest_age_s",
        "publish_rate",
    ):
        assert key in on_disk, key
    assert on_disk["polls_ok"] > 0
    print(f"\n{transport}: {len(keys)} committed, all delivered; {acker.duplicates} duplicates deduped")

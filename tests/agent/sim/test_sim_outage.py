"""Thirty simulated minutes of broker outage, then recovery: the backlog drains in order, live keeps up.

Compressed for CI: ``chargewatch sim --speed 60`` in its own process and the agent polling
every 1/60 s, so one poll is still one simulated second and 30 simulated minutes (1,800 polls
per pile) take 30 s of wall time instead of 180 s at speed 10. After the broker comes back the
stored backlog must arrive events first, then telemetry oldest-first, while messages committed
after the link reconnected (and the acker subscribed) overlap the drain instead of queueing
behind it. How many polls fit into the outage and how fast live messages arrive depend on the
machine's load, so they are printed, not asserted (a loaded box managed 1,334 polls per pile).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path

import pytest

from edge_agent.acker import Acker
from edge_agent.agent import Agent
from edge_agent.config import BusConfig, DeviceConfig, TcpBus, validate_config
from edge_agent.mqtt import MqttSettings
from tests.agent.sim.support import Committed, agent_config, outbox_settings, until
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SPEED = 60.0
OUTAGE_SIM_S = 1800.0
PILES = 2


class _MaxDelay(random.Random):
    """Always draws the maximum drain delay, so the fresh acker is subscribed before the drain starts."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def _sim(tmp: Path) -> tuple[asyncio.subprocess.Process, list[dict[str, object]]]:
    site = tmp / "site.yaml"
    devices = "\n".join(
        f"  - {{id: p{i}, model: cw-pile-10, transport: tcp, host: 127.0.0.1, port: 0, unit: 1}}"
        for i in range(PILES)
    )
    site.write_text(f"site: outage\nstart_time: 2025-07-15T12:00:00+08:00\nseed: 3\ndevices:\n{devices}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargewatch_cli", "sim", "--site", str(site), "--speed", str(SPEED),
        "--log-level", "WARNING", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(20):
        endpoints = [json.loads(await proc.stdout.readline()) for _ in range(PILES)]
    return proc, endpoints


async def test_thirty_simulated_minutes_of_outage_drain_in_order(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    proc, endpoints = await _sim(tmp_path)
    try:
        poll_s = 1.0 / SPEED
        buses: list[BusConfig] = [
            TcpBus(
                name=f"b{i}",
                port=int(str(ep["port"])),
                timeout_s=0.007,
                retries=1,
                down_after=5,
                devices=[DeviceConfig(id=str(ep["device"]), unit=1, model="cw-pile-10", poll_s=poll_s)],
            )
            for i, ep in enumerate(endpoints)
        ]
        cfg = agent_config(
            buses,
            outbox_settings(tmp_path, resend_timeout=5.0, drain_rate=2000.0, reconnect_drain_delay_max=0.5),
            mqtt=MqttSettings(
                url=mosquitto.url, client_id="agent-sim", backoff_initial_s=0.1, backoff_cap_s=0.3
            ),
        )
        record = Committed()
        async with Agent(validate_config(cfg, tmp_path / "agent.yaml"), rng=_MaxDelay()) as agent:
            assert agent.link is not None
            await agent.store.add_listener(record)
            mosquitto.stop()
            await asyncio.sleep(OUTAGE_SIM_S / SPEED)
            backlog = list(record.at)
            mosquitto.start()
            async with Acker(mosquitto.url, client_id="acker-outage") as acker:
                async with asyncio.timeout(10):
                    await acker.wait_ready()
                    await agent.link.wait_connected()
                live_from = len(record.at)
                await asyncio.sleep(4.0)
                record.recording = False
                keys = list(record.at)
                await until(lambda: set(keys) <= set(acker.seen), within=30.0)
            health = await agent.refresh_health()
    finally:
        proc.terminate()
        async with asyncio.timeout(15):
            await proc.wait()
    per_pile = len([k for k in backlog if k not in record.events]) / PILES
    assert per_pile >= 100, f"only {per_pile} polls per pile during the outage: no backlog to drain"
    first = [k for k in acker.order if k in set(backlog)]
    events = [k for k in backlog if k in record.events]
    assert first[: len(events)] == events, "stored events are sent first"
    telemetry = [k for k in backlog if k not in record.events]
    assert first[len(events) :] == telemetry, "backlog telemetry not sent oldest-first"
    live = keys[live_from:]
    assert live, "nothing committed after the reconnect"
    delays = sorted(acker.seen[k] - record.at[k] for k in live)
    assert min(acker.seen[k] for k in live) < max(acker.seen[k] for k in backlog), "live overlapped the drain"
    assert acker.conflicts == 0
    print(
        f"\noutage: {len(backlog)} stored ({per_pile:.0f} polls per pile = {per_pile / 60:.1f} sim min), "
        f"drained in order; live max latency {delays[-1] * 1000:.0f} ms, "
        f"p50 {delays[len(delays) // 2] * 1000:.0f} ms; poll success {health['poll_success_ratio']}"
    )

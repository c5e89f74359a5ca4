"""A fresh start raises no false ``current_spike`` (issue 9): simulator → agent → Mosquitto →
gateway, all started from nothing, at speed 1 and at ``--speed 10``.

The false spikes came from the meter cross-check (``analytics.rules.meter``): the agent stamped
samples with its wall clock while the simulator's meters ran at simulated speed, so energy ran
ahead of power × time. Now the agent stamps with the device's clock (the simulated time it
serves, ``edge_agent.modbus.devclock``). Every port charges from the first poll, and at speed 10
each port meters many times the rule's ``meter_excess_wh`` over the run, so the old clock mix-up
would page within seconds; the test asserts the meters did run and nothing paged.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
import pytest

from analytics import RuleConfig
from edge_agent.agent import Agent
from edge_agent.config import validate_config
from edge_agent.mqtt import MqttSettings
from firmware_sim import SiteRunner
from gateway.app import Gateway
from gateway.config import LimitsConfig, StoreConfig
from tests.agent.sim.support import agent_buses, agent_config, drained, make_site, outbox_settings, until
from tests.gateway.ingest.support import make_config
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

DEVICES = [("p1", "cw-pile-10"), ("p2", "cw-pile-10")]  # metered: the meter rule applies
PARAMS = {d: {"initial_occupancy": 1.0} for d, _ in DEVICES}
WALL_S = 8.0
FALSE = {"current_spike", "overcurrent"}


@pytest.mark.parametrize("speed", [1.0, 10.0])
async def test_a_fresh_start_pages_no_current_spike(
    tmp_path: Path, mosquitto: Mosquitto, speed: float
) -> None:
    site = make_site(tmp_path, "tcp", DEVICES, params=PARAMS, shared=False)
    cfg = make_config(tmp_path, mosquitto.port, "http://127.0.0.1:1", analytics="pipeline")
    cfg = msgspec.structs.replace(
        cfg,
        store=StoreConfig(kind="sqlite", path=str(tmp_path / "store.sqlite")),
        limits=LimitsConfig(max_future_skew_s=86400.0, ack_interval_s=0.1),  # simulated time runs ahead
    )
    async with Gateway(cfg) as gw, SiteRunner(site, speed=speed) as runner:
        await gw.mqtt.wait_connected(10)
        agent_cfg = agent_config(
            agent_buses(runner, poll_s=0.2, timeout_s=0.05, retries=1),
            outbox_settings(tmp_path),
            mqtt=MqttSettings(url=mosquitto.url, client_id=f"agent-fresh-{int(speed)}"),
        )
        async with Agent(validate_config(agent_cfg, tmp_path / "agent.yaml")) as agent:
            assert agent.link is not None
            async with asyncio.timeout(10):
                await agent.link.wait_connected()
            wall0 = time.time()
            await asyncio.sleep(WALL_S)  # the real processes run; nothing here is simulated
            upto = await agent.store.run(agent.outbox.last_id)
            await until(lambda: drained(agent, upto), within=20.0)
        await gw.spool.flush()
        rows = await gw.store.series(
            "port",
            ["energy", "power"],
            {"device": "p1"},
            int((wall0 - 60) * 1000),
            int((wall0 + 86400) * 1000),
        )
        alerts = gw.alerts(False)

    by_port: dict[str, list[float]] = {}
    for row in rows:
        by_port.setdefault(row.tags["port"], []).append(float(row.fields["energy"]))
    metered_wh = sorted((max(v) - min(v)) * 1000 for v in by_port.values())
    assert len(by_port) == 10, "every port of p1 reported"
    charging = [r for r in rows if float(r.fields["power"]) > 50.0]
    assert len(charging) >= len(rows) // 2, "ports charged from the first poll"
    if speed > 1.0:  # what the wall-clock stamps would have turned into a false excess
        excess = RuleConfig().meter_excess_wh
        assert metered_wh[len(metered_wh) // 2] >= 5 * excess, f"metered {metered_wh} Wh"
    false = [(a["id"], a["message"]) for a in alerts if a["kind"] in FALSE]
    assert false == [], f"a fresh start at speed {speed} paged {false}"

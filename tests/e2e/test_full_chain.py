"""The whole chain under crashes: simulator → edge agent → Mosquitto → gateway → InfluxDB 1.6.

A connector starts overheating on one pile port. While the agent polls, the gateway process is
killed with SIGKILL and restarted, then Mosquitto (default config, nothing persisted) is killed
with SIGKILL and restarted. Afterwards every (device, boot, seq) the agent committed is stored
exactly once (checked with InfluxQL), the agent's outbox is empty (everything acked), and the
fault has raised an overheating alert that the gateway lists in its API and stored in the
``alert`` measurement.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from edge_agent.agent import Agent
from edge_agent.config import validate_config
from edge_agent.mqtt import MqttSettings
from firmware_sim import SiteRunner
from firmware_sim.faults import Fault
from tests.agent.sim.support import (
    Committed,
    agent_buses,
    agent_config,
    drained,
    make_site,
    outbox_settings,
    until,
)
from tests.gateway.ingest.support import GatewayProcess, http_json, influxql, make_config, write_config
from tests.support.servers import InfluxDB1, Mosquitto

pytestmark = pytest.mark.integration

DEVICES = [("p1", "cw-pile-10"), ("p2", "vx-pile-12"), ("k1", "cw-blocker")]
HOT_PORT = 1
OVERHEAT = {"socket_overtemp", "temp_rising_fast", "port_hotter_than_neighbours", "thermal_residual"}


def stored_keys(url: str) -> Counter[tuple[str, int, int]]:
    """(device, boot, seq) of every stored telemetry and event point, with multiplicity."""
    keys: Counter[tuple[str, int, int]] = Counter()
    for measurement in ("pile", "blocker", "event"):
        for series in influxql(url, f"SELECT device, boot, seq FROM {measurement}"):
            for _, device, boot, seq in series["values"]:
                keys[(device, int(boot), int(seq))] += 1
    return keys


async def test_crashes_lose_nothing_and_the_fault_raises_an_alert(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    site = make_site(tmp_path, "tcp", DEVICES, params={"p1": {"temp_cut_c": 0.0}}, shared=False)
    overheat = Fault(
        kind="connector_overheat", at=site.start_time + 2, port=HOT_PORT, params={"doubling_s": 20.0}
    )
    gw_cfg = make_config(tmp_path, mosquitto.port, influxdb.url, client_id="gw-e2e", analytics="pipeline")
    gateway = GatewayProcess(
        write_config(gw_cfg, tmp_path / "gateway.yaml"), gw_cfg.http.port, tmp_path / "gw.log"
    )
    record = Committed()
    gateway.start()
    try:
        async with SiteRunner(site, speed=20.0, faults=[("p1", overheat)]) as runner:
            cfg = agent_config(
                agent_buses(runner, poll_s=0.1, timeout_s=0.04, retries=1),
                outbox_settings(tmp_path),
                mqtt=MqttSettings(
                    url=mosquitto.url, client_id="agent-e2e", backoff_initial_s=0.1, backoff_cap_s=0.5
                ),
            )
            async with Agent(validate_config(cfg, tmp_path / "agent.yaml")) as agent:
                assert agent.link is not None
                await agent.store.add_listener(record)
                async with asyncio.timeout(10):
                    await agent.link.wait_connected()
                await asyncio.sleep(2.0)
                gateway.kill()
                await asyncio.sleep(1.5)
                gateway.start()
                await asyncio.sleep(1.5)
                mosquitto.kill()
                await asyncio.sleep(1.0)
                mosquitto.start()

                async def overheat_alert() -> list[dict[str, object]]:
                    alerts = await http_json(gateway.http_port, "/api/alerts")
                    return [
                        a
                        for a in alerts
                        if a["device"] == "p1"
                        and a["port"] == HOT_PORT
                        and a["kind"] in OVERHEAT
                        and a["state"] != "pending"  # the firing point is what is asserted below
                    ]

                for _ in range(180):  # 90 s at most
                    if await overheat_alert():
                        break
                    await asyncio.sleep(0.5)
                else:
                    pytest.fail("no overheating alert on p1 within 90 s")
                record.recording = False
                upto = await agent.store.run(agent.outbox.last_id)
                await until(lambda: drained(agent, upto), within=30.0)
        committed = set(record.at)
        await until(lambda: committed <= set(stored_keys(influxdb.url)), within=30.0)
        stored = stored_keys(influxdb.url)
        assert {d for d, _, _ in committed} == {"p1", "p2", "k1"}
        assert len(committed) > 150, "the agent kept committing through both crashes"
        assert all(stored[k] == 1 for k in committed), "a committed message was stored twice"
        alert_points = influxql(influxdb.url, "SELECT id, state FROM alert WHERE device='p1'")
        assert any(v[2] == "firing" for s in alert_points for v in s["values"])
        assert gateway.terminate() == 0
    finally:
        gateway.kill()

"""The real edge-agent outbox and MQTT link talking to the real gateway: the ack contract holds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from edge_agent.mqtt import MqttLink
from edge_agent.mqtt.settings import MqttSettings
from edge_agent.outbox import Outbox
from edge_agent.outbox.settings import OutboxSettings
from gateway.app import Gateway
from tests.gateway.ingest.support import influxql, make_config, stored_seqs, wait_for
from tests.support.servers import InfluxDB1, Mosquitto

pytestmark = pytest.mark.integration


async def test_agent_outbox_empties_through_gateway_acks(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url, keepalive=30.0)
    box_settings = OutboxSettings(
        path=str(tmp_path / "outbox.db"),
        resend_timeout=1.0,
        reconnect_drain_delay_max=0.0,
        synchronous="normal",
    )
    link_settings = MqttSettings(
        url=mosquitto.url,
        client_id="agent-x",
        backoff_initial_s=0.05,
        backoff_cap_s=0.5,
        status_interval_s=0.5,
    )
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        with Outbox(box_settings) as box:
            async with MqttLink(link_settings, box, agent="agent-x", devices=["pile-x"]) as link:
                async with asyncio.timeout(10):
                    await link.wait_connected()
                t0 = time.time() - 30
                for i in range(300):
                    box.add_telemetry(
                        "pile-x", t0 + i * 0.05, "cw-pile-10", {"socket_temp": [*[30.0] * 9, 31.0]}, {}, {}
                    )
                box.add_event("pile-x", t0 + 20, "interlock", 1, {"temp": 95.0})
                await wait_for(lambda: box.depth() == 0, 20, "the outbox to empty through gateway acks")
                live = gw.liveness.devices
                await wait_for(
                    lambda: "pile-x" in live and live["pile-x"].agent == "agent-x", 5, "agent status"
                )
                assert gw.liveness.online("pile-x")
        await wait_for(lambda: not gw.liveness.online("pile-x"), 5, "offline after the agent's clean stop")
        await gw.spool.flush()
    assert sorted(stored_seqs(influxdb.url, "pile-x")) == list(range(300))  # seq 300 is the event
    events = influxql(influxdb.url, "SELECT seq FROM event WHERE device='pile-x'")
    assert [v[1] for v in events[0]["values"]] == [300.0]

"""Liveness and seq gaps through real Mosquitto and InfluxDB 1.6 (keepalive compressed to 2 s)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from chargewatch import topics
from chargewatch.messages import Telemetry, encode
from chargewatch.topics import gateway_status_topic
from gateway.app import Gateway
from gateway.metrics import parse_text
from tests.gateway.ingest.support import (
    http_json,
    http_text,
    make_config,
    raw_publish,
    retained,
    status,
    stored_seqs,
    wait_for,
)
from tests.support.servers import InfluxDB1, Mosquitto

pytestmark = pytest.mark.integration

KEEPALIVE = 2.0


def _tel(device: str, seq: int) -> tuple[str, bytes, bool]:
    msg = Telemetry(device=device, boot=1, seq=seq, ts=time.time() - 10 + seq * 0.01, model="cw-pile-10")
    return topics.device_topic(device, topics.TELEMETRY), encode(msg), False


async def test_offline_within_1_5_keepalive_and_stale_will_ignored(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url, keepalive=KEEPALIVE)
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        raw_publish(mosquitto.port, [_tel("quiet", 0)])
        await wait_for(lambda: gw.liveness.online("quiet"), 5, "quiet online")
        last_seen = gw.liveness.devices["quiet"].last_seen
        await wait_for(lambda: not gw.liveness.online("quiet"), 3 * KEEPALIVE, "quiet offline")
        alert = gw.state.alerts()[0]
        assert (alert.kind, alert.state) == ("device_offline", "firing")
        assert alert.ts - last_seen <= 1.5 * KEEPALIVE

        agent_topic = topics.agent_status_topic("a1")
        raw_publish(mosquitto.port, [(agent_topic, status("a1", True, 2, ["L2", "listed-only"]), True)])
        await wait_for(lambda: gw.liveness.online("L2"), 5, "L2 online")
        raw_publish(mosquitto.port, [_tel("L2", 0)])  # accepted once: L2 may now be paged
        await wait_for(lambda: "L2" in gw.known, 20, "L2 known")
        raw_publish(mosquitto.port, [(agent_topic, status("a1", False, 1, ["L2"]), False)])  # stale will
        raw_publish(mosquitto.port, [_tel("quiet", 1)])  # marks the stale will as processed
        await wait_for(lambda: gw.liveness.online("quiet"), 5, "quiet back online")
        assert gw.liveness.online("L2")
        devices = {d["device"]: d for d in await http_json(gw.http_port, "/api/devices")}
        assert devices["L2"]["online"] is True
        assert devices["L2"]["agent"] == "a1"
        raw_publish(mosquitto.port, [(agent_topic, status("a1", False, 2, ["L2", "listed-only"]), False)])
        await wait_for(lambda: not gw.liveness.online("L2"), 5, "L2 offline by the fresh will")
        assert not gw.liveness.online("listed-only")  # never accepted: offline without a page
        assert {a.id: a.state for a in gw.state.alerts()} == {
            "quiet.-.device_offline.1": "resolved",
            "a1.-.agent_offline.1": "firing",  # one page for the agent, none per device
        }
        metrics = parse_text(await http_text(gw.http_port, "/metrics"))
        await wait_for(lambda: gw.metrics.get("cw_devices_offline") == 2.0, 3, "offline gauge")
        assert metrics["cw_mqtt_connected"] == 1.0
        assert gw.mqtt.connected


async def test_out_of_order_is_accepted_and_gap_reported_once(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url, gap_timeout=0.5)
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        raw_publish(mosquitto.port, [_tel("g1", s) for s in (0, 4, 1, 2, 9)])
        await wait_for(lambda: gw.metrics.get("cw_ingest_gaps_total") == 2, 5, "gaps 3 and 5-8")
        assert gw.metrics.get("cw_ingest_gap_seqs_total") == 5
        assert gw.metrics.get("cw_ingest_late_total") == 2
        raw_publish(mosquitto.port, [_tel("g1", 6)])  # very late, after the gap was reported
        await wait_for(lambda: gw.metrics.get("cw_ingest_messages_total") == 6, 5, "late seq accepted")
        await gw.spool.flush()
        assert sorted(stored_seqs(influxdb.url, "g1")) == [0, 1, 2, 4, 6, 9]
        assert gw.metrics.get("cw_ingest_duplicates_total") == 0
        gaps = await http_json(gw.http_port, "/api/devices")
        assert gaps[0]["device"] == "g1"
        topic = gateway_status_topic(cfg.mqtt.client_id)
        await wait_for(lambda: gw.metrics.get("cw_mqtt_connected") == 1.0, 3, "a status refresh")
        online = await asyncio.to_thread(retained, mosquitto.port, topic)
        assert json.loads(online)["online"] is True
    offline = retained(mosquitto.port, gateway_status_topic(cfg.mqtt.client_id))
    assert json.loads(offline) | {"ts": 0} == {"online": False, "degraded": False, "site": "test", "ts": 0}


async def test_analytics_pipeline_alert_and_checkpoint_across_restart(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url, analytics="pipeline")

    def smoky(seq: int) -> tuple[str, bytes, bool]:
        msg = Telemetry(
            device="s1",
            boot=1,
            seq=seq,
            ts=time.time() - 10 + seq * 0.01,
            model="cw-pile-10",
            ports={
                "socket_temp": [30.0] * 10,
                "power": [100.0] * 10,
                "current": [0.5] * 10,
                "voltage": [220.0] * 10,
            },
            values={"smoke_alarm": 1.0, "ambient_temp": 25.0},
        )
        return topics.device_topic("s1", topics.TELEMETRY), encode(msg), False

    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        raw_publish(mosquitto.port, [smoky(0), smoky(1)])
        await wait_for(gw.state.alerts, 20, "the smoke alert")
        assert [(a.id, a.kind, a.state) for a in gw.state.alerts()] == [("s1.-.smoke.1", "smoke", "firing")]
    assert (tmp_path / "analytics.ckpt").stat().st_size > 0
    async with Gateway(cfg) as gw:
        assert gw.hook is not None
        assert "s1" in gw.hook.pipeline.piles  # learning restored from the checkpoint
        await gw.mqtt.wait_connected(10)
        raw_publish(mosquitto.port, [smoky(2)])
        await wait_for(lambda: gw.metrics.get("cw_ingest_messages_total") == 1, 5, "seq 2")
        assert [a.id for a in gw.state.alerts()] == ["s1.-.smoke.1"]

"""Crash tests through real Mosquitto and InfluxDB 1.6: gateway kill -9, broker kill -9, store
outage. Publishers re-send until acked (like the agent); afterwards every published seq is
stored exactly once (counted with InfluxQL) and alerts exist once per id."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from chargewatch.topics import gateway_status_topic
from gateway.app import Gateway
from tests.gateway.ingest.support import (
    GatewayProcess,
    ResendingPublisher,
    http_json,
    influxql,
    make_config,
    retained,
    stored_seqs,
    wait_for,
    write_config,
)
from tests.support.servers import InfluxDB1, Mosquitto

pytestmark = pytest.mark.integration

DEVICES = ["p0", "p1", "p2", "hot"]


async def _burst(pub: ResendingPublisher, n: int) -> None:
    for _ in range(n):
        for d in DEVICES:
            pub.send(pub.telemetry(d, temp=95.0 if d == "hot" else 30.0))
        pub.resend_due()
        await asyncio.sleep(0.002)


def _assert_exactly_once(url: str, pub: ResendingPublisher) -> None:
    for d in DEVICES:
        n = pub.next_seq[d]
        assert sorted(stored_seqs(url, d)) == list(range(n)), f"{d}: lost or duplicated seqs"
        ports = influxql(url, f"SELECT count(socket_temp) FROM port WHERE device='{d}' AND port='0'")
        assert ports[0]["values"][0][1] == n


async def _drained(url: str, pub: ResendingPublisher, within: float) -> None:
    total = pub.published()

    def done() -> bool:
        rows = influxql(url, "SELECT count(seq) FROM pile")
        return bool(rows) and rows[0]["values"][0][1] >= total

    await wait_for(done, within, "the spool to drain into InfluxDB")


async def test_gateway_sigkill_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url, client_id="gw-kill")
    gw = GatewayProcess(write_config(cfg, tmp_path / "gw.yaml"), cfg.http.port, tmp_path / "gw.log")
    gw.start()
    pub = ResendingPublisher(mosquitto.port, DEVICES, resend_after=1.0)
    try:
        for _round in range(3):
            await _burst(pub, 100)
            gw.kill()  # mid-stream: acks and spool commits in flight
            await _burst(pub, 50)  # published while the gateway is dead
            gw.start()
        await _burst(pub, 50)
        await pub.settle(30)
        await _drained(influxdb.url, pub, 20)
        _assert_exactly_once(influxdb.url, pub)
        assert pub.resent > 0, "the kills did not interrupt anything"
        replays = await http_json(cfg.http.port, "/api/dead_letters?limit=1000")
        print(f"resent={pub.resent} duplicates_dead_lettered={len(replays)}")
        alerts = await http_json(cfg.http.port, "/api/alerts")
        assert [a["id"] for a in alerts] == ["hot.0.socket_temp_high.1"]
        firing = influxql(influxdb.url, "SELECT id, state FROM alert")
        assert [v[1:] for v in firing[0]["values"]] == [["hot.0.socket_temp_high.1", "firing"]]
        assert gw.terminate() == 0  # SIGTERM: clean shutdown
    finally:
        pub.close()
        gw.kill()


async def test_broker_sigkill_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url, client_id="gw-broker")
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        pub = ResendingPublisher(mosquitto.port, DEVICES, resend_after=1.0)
        try:
            for _round in range(2):
                await _burst(pub, 100)
                mosquitto.kill()
                await _burst(pub, 30)  # paho queues these; re-sent after the broker is back
                mosquitto.start()
            await _burst(pub, 50)
            await pub.settle(40)
            await gw.spool.flush()
            _assert_exactly_once(influxdb.url, pub)
            assert gw.mqtt.connects >= 3
            assert pub.resent > 0, "the broker kills lost nothing to re-send"
            print(f"resent={pub.resent} duplicates={gw.metrics.get('cw_ingest_duplicates_total')}")
        finally:
            pub.close()


async def test_store_outage_degrades_then_drains(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url, client_id="gw-store", degraded_after=1.5)
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        pub = ResendingPublisher(mosquitto.port, DEVICES, resend_after=1.0)
        try:
            await _burst(pub, 50)
            await pub.settle(10)
            influxdb.kill()
            stopped = time.monotonic()
            await _burst(pub, 200)  # acked from the spool while the store is down
            await pub.settle(10)

            async def degraded() -> bool:
                return bool((await http_json(gw.http_port, "/health"))["degraded"])

            while not await degraded():
                assert time.monotonic() - stopped < 1.5 + 2.0 + 2.0, "degraded not visible in time"
                await asyncio.sleep(0.1)
            assert (await http_json(gw.http_port, "/health"))["spool_depth"] > 0
            await wait_for(lambda: gw.metrics.get("cw_ingest_degraded") == 1.0, 3, "degraded metric")
            topic = gateway_status_topic(cfg.mqtt.client_id)
            assert json.loads(await asyncio.to_thread(retained, mosquitto.port, topic))["degraded"] is True
            influxdb.start()
            await _drained(influxdb.url, pub, 30)
            _assert_exactly_once(influxdb.url, pub)
            await wait_for(lambda: not gw.spool.stats().degraded, 10, "recovery")
        finally:
            pub.close()

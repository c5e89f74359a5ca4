"""A store that refuses writes (401 from a real InfluxDB 1.6 with auth enabled) raises the gateway's
``store_config`` alert through the alert path, keeps the data in the spool, and resolves once the
store accepts writes again — then the data and the alert points reach the store."""

from __future__ import annotations

import asyncio
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from chargewatch import topics
from chargewatch.messages import Alert, decode_message
from gateway.app import Gateway
from tests.gateway.ingest.support import (
    ResendingPublisher,
    http_json,
    influxql,
    make_config,
    stored_seqs,
    wait_for,
)
from tests.support.servers import InfluxDB1, Mosquitto, running

pytestmark = pytest.mark.integration

ADMIN = ("admin", "s3cret-test")


@pytest.fixture
def influx_auth(tmp_path: Path) -> Iterator[InfluxDB1]:
    """InfluxDB 1.6 with ``auth-enabled = true`` and one admin user: anonymous writes get 401."""
    workdir = tmp_path / "influx-auth"
    workdir.mkdir()
    server = InfluxDB1(workdir)
    conf = workdir / "influxdb.conf"
    conf.write_text(conf.read_text().replace("[http]\n", "[http]\n  auth-enabled = true\n"))
    with running(server):
        _query(server.url, f"CREATE USER {ADMIN[0]} WITH PASSWORD '{ADMIN[1]}' WITH ALL PRIVILEGES")
        yield server


def _query(url: str, q: str, auth: bool = False) -> int:
    params = {"q": q} | ({"u": ADMIN[0], "p": ADMIN[1]} if auth else {})
    req = urllib.request.Request(f"{url}/query?{urllib.parse.urlencode(params)}", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)


class _AlertListener:
    """Collects Alert messages published on one device's alert topic."""

    def __init__(self, port: int, device: str) -> None:
        self.alerts: list[Alert] = []
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"alerts-{device}")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topics.device_topic(device, topics.ALERT), 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        alert = decode_message(bytes(msg.payload))
        assert isinstance(alert, Alert)
        with self._lock:
            self.alerts.append(alert)

    def states(self) -> list[str]:
        with self._lock:
            return [a.state for a in self.alerts]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_401_raises_store_config_alert_keeps_data_and_resolves(
    tmp_path: Path, mosquitto: Mosquitto, influx_auth: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influx_auth.url, client_id="gw-auth")
    listener = _AlertListener(mosquitto.port, "gw-auth")
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        pub = ResendingPublisher(mosquitto.port, ["p0", "p1"], resend_after=1.0)
        try:
            for _ in range(20):
                pub.send(pub.telemetry("p0"))
                pub.send(pub.telemetry("p1"))
            await pub.settle(10)  # acked from the spool: nothing depends on the store

            await wait_for(lambda: listener.states() == ["firing"], 10, "the store_config alert")
            (alert,) = listener.alerts
            assert (alert.device, alert.kind, alert.severity) == ("gw-auth", "store_config", "critical")
            assert "401" in alert.message
            (row,) = await http_json(gw.http_port, "/api/alerts?open=1")
            assert (row["id"], row["state"]) == ("gw-auth.-.store_config.1", "firing")
            health = await http_json(gw.http_port, "/health")
            assert health["degraded"] is True
            assert "401" in health["store_error"]
            assert health["spool_depth"] >= 40 * 3 + 1  # 2 ports + pile per message, and the alert point

            await asyncio.to_thread(influx_auth.stop)  # the fix: auth off, same data and port; an outage
            conf = influx_auth.workdir / "influxdb.conf"
            conf.write_text(conf.read_text().replace("auth-enabled = true", "auth-enabled = false"))
            await asyncio.sleep(1.5)
            assert listener.states() == ["firing"], "the outage must not resolve the config alert"
            await asyncio.to_thread(influx_auth.start)
            await wait_for(lambda: listener.states() == ["firing", "resolved"], 15, "the alert to resolve")
            await wait_for(lambda: gw.spool.stats().depth_lines == 0, 10, "the spool to drain")
            assert await http_json(gw.http_port, "/api/alerts?open=1") == []
            assert (await http_json(gw.http_port, "/health"))["degraded"] is False
        finally:
            pub.close()
            listener.close()
    assert sorted(stored_seqs(influx_auth.url, "p0")) == list(range(20))
    assert sorted(stored_seqs(influx_auth.url, "p1")) == list(range(20))
    points = influxql(influx_auth.url, "SELECT state, severity FROM alert WHERE kind='store_config'")
    assert [v[1:] for v in points[0]["values"]] == [["firing", "critical"], ["resolved", "critical"]]

"""Stale data is data, not a page: readings older than ``limits.stale_after_s`` on arrival are
stored, counted and marked, but never open, re-fire or resolve an alert."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from chargewatch import topics
from chargewatch.errors import ConfigError
from chargewatch.messages import Alert, Telemetry, decode_message, encode
from chargewatch.mqtt_config import MqttConfig
from gateway.app import Gateway
from gateway.config import GatewayConfig, LimitsConfig, validate_config
from gateway.ingest.alerts import ThresholdRule
from gateway.ingest.dedupe import SeqTracker
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.state import IngestState
from gateway.ingest.validate import TimePolicy
from gateway.liveness import Liveness
from gateway.metrics import Metrics
from tests.gateway.ingest.support import influxql, make_config, raw_publish, stored_seqs, wait_for
from tests.support.servers import InfluxDB1, Mosquitto

NOW = 1_750_000_000.0


def _hot(device: str, seq: int, ts: float) -> Telemetry:
    return Telemetry(
        device=device,
        boot=1,
        seq=seq,
        ts=ts,
        model="cw-pile-10",
        ports={"socket_temp": [95.0, *[30.0] * 9]},
    )


class _Spool:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def append(self, lines: Sequence[str], meta: str = "") -> int:
        self.lines += lines
        return len(self.lines)


async def test_stale_readings_are_stored_marked_and_never_alert(tmp_path: Path) -> None:
    spool = _Spool()
    published: list[str] = []
    liveness = Liveness(90.0)
    p = IngestPipeline(
        site="s",
        spool=spool,
        state=IngestState(tmp_path / "state.sqlite"),
        tracker=SeqTracker(),
        analytics=ThresholdRule(samples=2),
        liveness=liveness,
        metrics=Metrics(),
        policy=TimePolicy(max_future_skew=60.0, retention=86400.0, stale_after=300.0),
        publish=lambda topic, _payload, _retain: published.append(topic),
    )
    tel = topics.device_topic("p1", topics.TELEMETRY)
    await p.handle([(tel, encode(_hot("p1", s, NOW - 3600 + s)), NOW) for s in range(3)])
    assert published == []  # a 95 °C reading an hour old is history, not a page
    assert p.state.alerts() == []
    assert not liveness.online("p1")  # nor does it say the device is up now
    assert p.metrics.get("cw_ingest_stale_total") == 3
    assert p.metrics.get("cw_ingest_messages_total") == 3
    assert sum(ln.startswith("port,") for ln in spool.lines) == 30
    (mark,) = [ln for ln in spool.lines if ln.startswith("event,")]
    assert "kind=stale_data" in mark
    assert ",lo=0.0,hi=2.0,count=3.0," in mark
    assert [a.ranges[0].hi for a in p.acks.take()] == [2]  # acked: stored like any reading
    await p.handle([(tel, encode(_hot("p1", 3, NOW - 1)), NOW)])
    assert published == []  # the rule's run starts with the first fresh reading
    assert liveness.online("p1")
    await p.handle([(tel, encode(_hot("p1", 4, NOW)), NOW)])
    assert published == [topics.device_topic("p1", topics.ALERT)]


def test_stale_after_is_validated_at_load() -> None:
    with pytest.raises(ConfigError, match="stale_after_s"):
        validate_config(
            GatewayConfig(
                mqtt=MqttConfig(client_id="gw"),
                limits=LimitsConfig(stale_after_s=10_000.0, retention_s=3600.0),
            ),
            "gw.yaml",
        )


def _alert_listener(port: int, got: list[Alert]) -> paho.Client:
    ready = threading.Event()

    def on_message(_c: paho.Client, _u: Any, m: paho.MQTTMessage) -> None:
        msg = decode_message(bytes(m.payload))
        assert isinstance(msg, Alert)
        got.append(msg)

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"alerts-{time.monotonic_ns()}")
    client.on_message = on_message
    client.on_subscribe = lambda *_: ready.set()
    client.connect("127.0.0.1", port)
    client.subscribe(topics.device_filter(topics.ALERT), qos=1)
    client.loop_start()
    assert ready.wait(5)
    return client


@pytest.mark.integration
async def test_hour_old_overheating_is_stored_and_publishes_no_alert(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url, stale_after=300.0)
    got: list[Alert] = []
    listener = _alert_listener(mosquitto.port, got)
    tel = topics.device_topic("old1", topics.TELEMETRY)
    t_old = time.time() - 3600
    try:
        async with Gateway(cfg) as gw:
            await gw.mqtt.wait_connected(10)
            old = [(tel, encode(_hot("old1", s, t_old + s)), False) for s in range(5)]
            raw_publish(mosquitto.port, old)
            await wait_for(lambda: gw.metrics.get("cw_ingest_stale_total") == 5, 10, "stale readings")
            await gw.spool.flush()
            assert sorted(stored_seqs(influxdb.url, "old1")) == list(range(5))
            assert gw.state.alerts() == []
            t_new = time.time() - 2
            fresh = [(tel, encode(_hot("old1", 5 + s, t_new + s * 0.1)), False) for s in range(3)]
            raw_publish(mosquitto.port, fresh)  # the rule needs 3 hot samples in a row: only fresh ones count
            await wait_for(lambda: len(got) >= 1, 10, "the alert of the fresh readings")
            await gw.spool.flush()
            marks = influxql(influxdb.url, "SELECT sum(count) FROM event WHERE kind='stale_data'")
            assert marks[0]["values"][0][1] == 5.0
            assert gw.metrics.get("cw_ingest_rejected_total") == 0
    finally:
        listener.disconnect()
        listener.loop_stop()
    assert [(a.state, a.port) for a in got] == [("firing", 0)]
    assert got[0].ts == pytest.approx(t_new + 0.2)  # the third fresh reading's, not an old one's
    assert sorted(stored_seqs(influxdb.url, "old1")) == list(range(8))

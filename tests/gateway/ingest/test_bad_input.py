"""Bad input through real Mosquitto and InfluxDB 1.6: nothing crashes, nothing bad stored,
each message dead-lettered with its reason; alerts listed and acknowledged; metrics parse."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from chargewatch import topics
from chargewatch.messages import Telemetry, encode
from gateway.app import Gateway
from gateway.metrics import parse_text
from tests.gateway.ingest.support import (
    ResendingPublisher,
    http_json,
    http_text,
    influxql,
    make_config,
    raw_publish,
    stored_seqs,
    wait_for,
)
from tests.support.servers import InfluxDB1, Mosquitto

pytestmark = pytest.mark.integration


def _good(device: str, seq: int, temp: float = 30.0) -> Telemetry:
    return Telemetry(
        device=device,
        boot=1,
        seq=seq,
        ts=time.time() - 60 + seq * 0.01,
        model="cw-pile-10",
        ports={"socket_temp": [temp] * 10},
    )


async def test_bad_input_is_dead_lettered_and_never_stored(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url)
    tel = topics.device_topic("p1", topics.TELEMETRY)
    good = encode(_good("p1", 0))
    bad: list[tuple[str, bytes, str]] = [
        (tel, b"{not json", "malformed"),
        (tel, b'{"type":"telemetry","device":"p1","boot":1,"seq":"1","ts":1.0,"model":"m"}', "schema"),
        (tel, good.replace(b'"seq":0', b'"seq":1').replace(b"30.0", b"NaN"), "malformed"),
        (tel, good.replace(b'"seq":0', b'"seq":2').replace(b"30.0", b"1e999"), "schema"),
        (tel, b'{"type":"telemetry","pad":"' + b"x" * 70_000 + b'"}', "too_large"),
        (tel, good.replace(b'"device":"p1"', b'"device":"p1,site=evil x=1"'), "schema"),
        (topics.device_topic("p1", topics.EVENT), good, "schema"),
        (tel, encode(_good("p2", 3)), "identity"),
        (tel, encode(_good("p1", 4)).replace(b'"ts":', b'"ts":9', 1), "future_ts"),
        ("cw/v1/agent/a1/status", b'{"type":"status"}', "schema"),
    ]
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        raw_publish(mosquitto.port, [(tel, good, False)] + [(t, p, False) for t, p, _ in bad])
        raw_publish(mosquitto.port, [(tel, good, False)])  # a replayed seq
        expected = sorted([r for _, _, r in bad] + ["duplicate"])
        await wait_for(lambda: len(gw.state.dead_letters(100)) >= len(expected), 10, "dead letters")
        letters = await http_json(gw.http_port, "/api/dead_letters?limit=100")
        assert sorted(d["reason"] for d in letters) == expected
        assert all(len(d["payload"]) <= cfg.limits.dead_letter_payload_bytes for d in letters)
        await gw.spool.flush()
        assert stored_seqs(influxdb.url, "p1") == [0]
        assert influxql(influxdb.url, "SELECT count(seq) FROM pile WHERE device='p2'") == []
        metrics = parse_text(await http_text(gw.http_port, "/metrics"))
        assert metrics["cw_ingest_rejected_total"] == len(bad)
        assert metrics["cw_ingest_duplicates_total"] == 1
        assert metrics["cw_ingest_messages_total"] == 1
        assert (await http_json(gw.http_port, "/health"))["status"] == "ok"


async def test_alerts_listed_acknowledged_and_stored(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url)
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        pub = ResendingPublisher(mosquitto.port, ["hot1"])
        try:
            for _ in range(5):
                pub.send(pub.telemetry("hot1", temp=95.0))
            await pub.settle(10)
        finally:
            pub.close()
        await wait_for(gw.state.alerts, 20, "an alert")
        alerts = await http_json(gw.http_port, "/api/alerts")
        assert [(a["id"], a["state"], a["acked_by"]) for a in alerts] == [
            ("hot1.0.socket_temp_high.1", "firing", None)
        ]
        acked = await http_json(
            gw.http_port, "/api/alerts/hot1.0.socket_temp_high.1/ack", "POST", b'{"user":"ops"}'
        )
        assert acked["acked_by"] == "ops"
        assert (await http_json(gw.http_port, "/api/alerts/nope/ack", "POST", b"{}"))["error"]
        await gw.spool.flush()
        rows = influxql(influxdb.url, "SELECT id, state FROM alert")
        assert [v[1:] for v in rows[0]["values"]] == [["hot1.0.socket_temp_high.1", "firing"]]
        series = await http_json(gw.http_port, "/api/series?device=hot1&port=0&field=socket_temp&since=3600")
        assert [p[1] for p in series["points"]] == [95.0] * 5
        assert (await http_json(gw.http_port, "/api/series?device=hot1;drop&field=x"))["error"]
        devices = await http_json(gw.http_port, "/api/devices")
        assert devices[0]["device"] == "hot1"
        assert devices[0]["online"] is True
        assert devices[0]["max_socket_temp"] == 95.0
        page = await http_text(gw.http_port, "/")  # the control room's shell (tests/ui drive it)
        assert '<html lang="zh-CN">' in page
        assert '<script src="/static/app.js"></script>' in page
        await asyncio.sleep(0)

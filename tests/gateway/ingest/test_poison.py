"""The poison corpus of issue 8: each message dead-lettered with its reason, the good ones around
it stored exactly once, the gateway still running — in process and through real Mosquitto with a
real agent outbox and link publishing the good data."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from chargewatch import topics
from chargewatch.messages import Telemetry
from edge_agent.mqtt import MqttLink
from edge_agent.mqtt.settings import MqttSettings
from edge_agent.outbox import Outbox
from edge_agent.outbox.settings import OutboxSettings
from gateway.app import Gateway
from gateway.bench_fuzz import START, Harness
from gateway.lineproto import telemetry_lines
from gateway.metrics import parse_text
from tests.gateway.ingest.corpus import PORTS, poisons
from tests.gateway.ingest.support import http_json, http_text, make_config, raw_publish, stored_seqs, wait_for
from tests.support.servers import InfluxDB1, Mosquitto


def _good(device: str, seq: int, ts: float) -> tuple[str, bytes]:
    msg = {
        "type": "telemetry",
        "device": device,
        "boot": 1,
        "seq": seq,
        "ts": ts,
        "model": "cw-pile-10",
        "ports": {"socket_temp": [31.0] * PORTS, "current": [1.5] * PORTS, "power": [300.0] * PORTS},
        "values": {"ambient_temp": 24.0},
    }
    return topics.device_topic(device, topics.TELEMETRY), json.dumps(msg).encode()


async def test_every_poison_is_dead_lettered_with_its_reason_in_one_mixed_batch(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    corpus = poisons("pile-a", h.now, seq=1000)
    assert 50_000 < len(next(p for name, _, p, _ in corpus if name == "30,000 ports in 60 KB")) <= 65_536
    await h.feed([_good("pile-a", 0, h.now - 20)])  # the device is known (its port count) from here
    batch: list[tuple[str, bytes]] = []
    for k, (_, topic, payload, _reason) in enumerate(corpus):
        batch += [(topic, payload), _good("pile-a", k + 1, h.now - 10 + k * 0.01)]
    await h.feed(batch)
    assert h.problems() == []
    letters = h.state.dead_letters(limit=1000)
    assert Counter(d.reason for d in letters) == Counter(reason for *_, reason in corpus)
    assert all(d.detail for d in letters)
    totals = h.totals()
    assert totals["accepted"] == len(corpus) + 1
    assert totals["rejected"] == len(corpus)
    assert h.metrics.get("cw_ingest_rejected_total", reason="ragged_columns") == 1
    h.close()


async def test_each_poison_alone_leaves_the_pipeline_working(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    for k, (name, topic, payload, reason) in enumerate(poisons("pile-b", h.now, seq=1000)):
        await h.feed([(topic, payload)])
        await h.feed([_good("pile-b", k, h.now - 5)])
        assert h.state.dead_letters(limit=1)[0].reason == reason, name
    assert h.problems() == []
    assert h.totals()["accepted"] == len(poisons("pile-b", START))
    h.close()


@pytest.mark.integration
async def test_poison_among_a_real_agents_data_through_mosquitto(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url, keepalive=30.0, analytics="pipeline")
    box_settings = OutboxSettings(
        path=str(tmp_path / "outbox.db"),
        resend_timeout=1.0,
        reconnect_drain_delay_max=0.0,
        synchronous="normal",
    )
    link_settings = MqttSettings(
        url=mosquitto.url,
        client_id="agent-p",
        backoff_initial_s=0.05,
        backoff_cap_s=0.5,
        status_interval_s=0.5,
    )
    t0 = time.time() - 60
    ports: dict[str, list[float | None]] = {
        "socket_temp": [31.0] * PORTS,
        "current": [1.5] * PORTS,
        "power": [300.0] * PORTS,
    }
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        with Outbox(box_settings) as box:
            async with MqttLink(link_settings, box, agent="agent-p", devices=["pile-p"]) as link:
                async with asyncio.timeout(10):
                    await link.wait_connected()
                for i in range(100):
                    box.add_telemetry(
                        "pile-p", t0 + i * 0.05, "cw-pile-10", ports, {"ambient_temp": 24.0}, {}
                    )
                await wait_for(lambda: box.depth() == 0, 20, "the first half acked")
                # poison on the real device's own topics, structural ones re-using its next seqs
                corpus = poisons("pile-p", time.time(), seq=100)
                await asyncio.to_thread(raw_publish, mosquitto.port, [(t, p, False) for _, t, p, _ in corpus])
                for i in range(100, 200):
                    box.add_telemetry(
                        "pile-p", t0 + i * 0.05, "cw-pile-10", ports, {"ambient_temp": 24.0}, {}
                    )
                await wait_for(lambda: box.depth() == 0, 20, "the second half acked")
                await wait_for(lambda: len(gw.state.dead_letters(1000)) >= len(corpus), 10, "dead letters")
                # every loop still runs (the evidence rebuild is a one-shot at start-up: it ends)
                loops = [t for t in gw._tasks if t.get_name() != "gateway-evidence-rebuild"]
                assert loops
                assert not any(t.done() for t in loops), "a gateway loop ended"
                assert all(t.exception() is None for t in gw._tasks if t.done())
        await gw.spool.flush()
        letters = await http_json(gw.http_port, "/api/dead_letters?limit=1000")
        metrics = parse_text(await http_text(gw.http_port, "/metrics"))
        health = await http_json(gw.http_port, "/health")
    assert Counter(d["reason"] for d in letters) == Counter(reason for *_, reason in corpus)
    assert sorted(stored_seqs(influxdb.url, "pile-p")) == list(range(200))  # each good seq once
    assert metrics["cw_ingest_rejected_total"] == len(corpus)
    assert metrics["cw_ingest_messages_total"] == 200
    assert health["status"] == "ok"


def test_line_protocol_survives_a_flag_key_built_in_code() -> None:
    """Code that builds a Telemetry skips the schema; the 4,400-digit index is a device flag."""
    key = "socket_temp[" + "9" * 4400 + "]"
    msg = Telemetry(
        device="p",
        boot=1,
        seq=1,
        ts=1.0,
        model="cw-pile-10",
        ports={"socket_temp": [1.0] * PORTS},
        flags={key: "x"},
    )
    lines = telemetry_lines(msg, "s")
    assert len(lines) == PORTS + 1
    assert lines[-1].endswith(f'flags="{key}:x" 1000')

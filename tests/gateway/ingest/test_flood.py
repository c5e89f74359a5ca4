"""Floods through real Mosquitto and the real gateway: real devices lose nothing, every flood
message is accounted for by reason, no offline page for ids never accepted, bounded state."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from chargewatch import topics
from gateway.app import Gateway
from gateway.bench_flood import by_reason, telemetry
from gateway.config import GatewayConfig, LimitsConfig, StoreConfig
from gateway.ingest.mqtt import Inbound, MqttSession
from gateway.metrics import parse_text
from tests.gateway.ingest.support import ResendingPublisher, http_text, make_config, wait_for
from tests.support.servers import Mosquitto, running

pytestmark = pytest.mark.integration


@pytest.fixture
def roomy_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """Mosquitto that never drops for a slow subscriber, so every flood message is countable."""
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    server = Mosquitto(workdir, "max_queued_messages 0\nmax_queued_bytes 0")
    with running(server):
        yield server


def _config(tmp: Path, port: int, **limits: float) -> GatewayConfig:
    cfg = make_config(tmp, port, "http://unused", keepalive=1.0, analytics="pipeline")
    return msgspec.structs.replace(
        cfg,
        store=StoreConfig(kind="sqlite", path=str(tmp / "ts.sqlite")),
        limits=LimitsConfig(ack_interval_s=0.1, stale_after_s=3600.0, **limits),  # type: ignore[arg-type]
    )


def _flood(port: int, items: list[tuple[str, int]]) -> None:
    """Publish (device, seq) telemetry at QoS 1 as fast as the broker takes it."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{time.monotonic_ns()}")
    client.max_inflight_messages_set(500)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [
            client.publish(topics.device_topic(d, topics.TELEMETRY), telemetry(d, seq), qos=1)
            for d, seq in items
        ]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


async def test_real_devices_lose_nothing_and_every_flood_message_is_accounted_for(
    tmp_path: Path, roomy_mosquitto: Mosquitto
) -> None:
    port = roomy_mosquitto.port
    cfg = _config(
        tmp_path,
        port,
        device_msgs_per_s=5,
        device_burst=20,
        new_devices_per_min=30,
        max_devices=500,
        trust_after_s=0.5,
    )
    flood_one = [("flood-0", seq) for seq in range(2000)]
    flood_many = [(f"new-{i}", 0) for i in range(1000)]
    sent = len(flood_one) + len(flood_many)
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        real = ResendingPublisher(port, ["real-1", "real-2"], resend_after=1000.0)  # never re-sends
        try:
            for device in real.devices:
                real.send(real.telemetry(device))
            await real.settle(10)  # known before the flood …
            await wait_for(lambda: set(gw.router.trusted) == {"real-1", "real-2"}, 10, "real devices trusted")
            assert set(gw.trusted_mqtt.filters) == {
                topics.device_filter(leaf, d)
                for d in real.devices
                for leaf in (topics.TELEMETRY, topics.EVENT)
            }  # … and read on their own MQTT session
            _flood(port, flood_one + flood_many)
            for _ in range(10):
                for device in real.devices:
                    real.send(real.telemetry(device))
            await real.settle(20)
            assert len(real.acked) == real.published() == 22
            assert "flood-0" not in gw.router.trusted
            assert not any("flood-0" in f for f in gw.trusted_mqtt.filters)

            def copies() -> float:
                m = gw.metrics
                return m.get("cw_ingest_copies_dropped_total") + m.get("cw_ingest_copies_released_total")

            def accounted() -> float:
                refused = gw.metrics.total("cw_ingest_rejected_total")
                return gw.metrics.get("cw_ingest_messages_total") - real.published() + refused

            await wait_for(lambda: accounted() >= sent, 30, "every flood message accounted for")
            assert accounted() == sent
            text = await http_text(gw.http_port, "/metrics")
            refused = by_reason(text, "cw_ingest_rejected_total")
            assert refused["unknown_device_budget"] >= 1000 - 30
            assert refused["rate_limited"] >= 2000 - 20 - 30  # burst + ≤ a few s at 5/s
            sampled = by_reason(text, "cw_ingest_dead_letters_sampled_out_total")
            rows = gw.state.dead_letter_counts()
            assert (
                rows["unknown_device_budget"] + sampled["unknown_device_budget"]
                == (refused["unknown_device_budget"])
            )
            assert rows["unknown_device_budget"] == 20  # one source: the first 20 kept this minute
            assert parse_text(text)["cw_devices_known"] <= 2 + 1 + 30
            # the 20 messages sent while trusted also came on discovery: each copy dropped there
            # (the trusted session had it) or released (it never had it), never stored twice
            await wait_for(lambda: copies() >= 20, 10, "every discovery copy settled")
            assert copies() == 20
            assert gw.router.held == {}
            assert gw.metrics.get("cw_ingest_duplicates_total") == 0

            await wait_for(lambda: not gw.liveness.online("real-1"), 10, "the silence to be judged")
            await wait_for(lambda: not gw.liveness.online("flood-0"), 10, "the flood id judged")
            offline = {a.device for a in gw.state.alerts(10_000) if a.kind == "device_offline"}
            flood_ids = {d for d, _ in flood_one + flood_many}
            assert {"real-1", "real-2"} <= offline
            assert offline & flood_ids <= {d for d in flood_ids if d in gw.known}
            assert len(offline & flood_ids) <= 31  # never more than the new-device budget
        finally:
            real.close()


async def test_state_per_device_is_bounded_by_max_devices(tmp_path: Path, roomy_mosquitto: Mosquitto) -> None:
    port = roomy_mosquitto.port
    cfg = _config(tmp_path, port, new_devices_per_min=100_000, max_devices=40)
    ids = [(f"id-{i}", 0) for i in range(3000)]
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        _flood(port, ids)

        def handled() -> float:
            return gw.metrics.get("cw_ingest_messages_total") + gw.metrics.total("cw_ingest_rejected_total")

        await wait_for(lambda: handled() >= len(ids), 30, "every message handled")
        assert gw.metrics.get("cw_ingest_messages_total") == 40
        assert gw.hook is not None
        sizes = {
            "known": len(gw.known),
            "trial": len(gw.admission.trial),
            "device buckets": len(gw.admission.devices),
            "steady buckets": len(gw.admission.steady),
            "distrusted_at": len(gw.admission.distrusted_at),
            "trusted": len(gw.router.trusted),
            "trusted filters": len(gw.trusted_mqtt.filters) // 2,
            "liveness": len(gw.liveness.devices),
            "pipeline.last": len(gw.pipeline.last),
            "seq marks": len({d for d, _ in gw.pipeline.tracker.states}),
            "analytics piles": len(gw.hook.pipeline.piles),
            "analytics last_seen": len(gw.hook.pipeline.last_seen),
        }
        assert max(sizes.values()) <= 40, sizes
        assert sizes["known"] == 40


async def test_a_read_budget_rests_the_socket_and_loses_nothing_the_broker_keeps(
    tmp_path: Path, roomy_mosquitto: Mosquitto
) -> None:
    cfg = _config(tmp_path, roomy_mosquitto.port)
    tel = topics.device_filter(topics.TELEMETRY)
    async with MqttSession(cfg.mqtt, [tel], read_per_s=300.0) as session:
        await session.wait_connected(10)
        _flood(roomy_mosquitto.port, [(f"d{i % 7}", i) for i in range(900)])
        got: list[Inbound] = []
        while len(got) < 900:
            batch = await session.next_batch(1000, idle=5.0)
            assert batch, f"only {len(got)} of 900 arrived"
            got += batch
    assert len(got) == 900
    assert session.rested >= 1  # 900 messages against a budget of 300 a second: it had to rest

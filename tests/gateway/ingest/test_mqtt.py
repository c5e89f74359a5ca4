"""The in-loop session against a real Mosquitto: backpressure, resubscription after a broker
restart, and publishes queued while the broker was down sent after the reconnect."""

from __future__ import annotations

import asyncio
import threading

import pytest

from chargewatch import topics
from chargewatch.mqtt_config import MqttConfig
from gateway.ingest.mqtt import MqttSession
from tests.gateway.ingest.support import raw_publish, wait_for
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


async def _drain(session: MqttSession, n: int) -> list[str]:
    got: list[str] = []
    async with asyncio.timeout(15):
        while len(got) < n:
            got += [payload.decode() for _, payload, _ in await session.next_batch(50, idle=0.5)]
    return got


async def test_inbox_is_bounded_and_nothing_is_lost(mosquitto: Mosquitto) -> None:
    cfg = MqttConfig(url=mosquitto.url, client_id="gw-bp")
    leaf = topics.device_filter(topics.TELEMETRY)
    async with MqttSession(cfg, [leaf], max_inbox=10) as session:
        await session.wait_connected(10)
        items = [(topics.device_topic("d", topics.TELEMETRY), str(i).encode(), False) for i in range(300)]
        await asyncio.to_thread(raw_publish, mosquitto.port, items)
        await asyncio.sleep(0.5)
        assert session.backlog <= 11  # the session stops reading the socket
        got = await _drain(session, 300)
    assert sorted(map(int, got)) == list(range(300))


async def test_resubscribes_after_broker_restart(mosquitto: Mosquitto) -> None:
    cfg = MqttConfig(url=mosquitto.url, client_id="gw-re")
    async with MqttSession(cfg, [topics.device_filter(topics.EVENT)]) as session:
        await session.wait_connected(10)
        mosquitto.kill()
        mosquitto.start()  # default config: the session and its subscriptions are gone
        await asyncio.sleep(0.2)
        await session.wait_connected(15)
        await asyncio.to_thread(raw_publish, mosquitto.port, [("cw/v1/dev/d/event", b"after", False)])
        assert await _drain(session, 1) == ["after"]
        assert session.connects >= 2


async def test_in_loop_and_sends_after_reconnect_what_was_published_offline(mosquitto: Mosquitto) -> None:
    status = "cw/v1/gateway/gw-offline/status"
    cfg = MqttConfig(url=mosquitto.url, client_id="gw-offline")
    async with MqttSession(cfg, [topics.device_filter(topics.EVENT)]) as session:
        await session.wait_connected(10)
        assert not [t.name for t in threading.enumerate() if t.name.startswith("paho")]
        mosquitto.kill()
        await wait_for(lambda: not session.connected, 10, "the session to notice the broker is gone")
        session.publish(status, b"queued while down", retain=True)
        mosquitto.start()
        await session.wait_connected(15)
        reader_cfg = MqttConfig(url=mosquitto.url, client_id="gw-offline-reader")
        async with MqttSession(reader_cfg, [status]) as reader:
            await reader.wait_connected(10)
            assert await _drain(reader, 1) == ["queued while down"]

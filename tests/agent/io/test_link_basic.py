"""MqttLink through a real Mosquitto: live publish, acks empty the outbox, retained status."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import paho.mqtt.subscribe as paho_subscribe
import pytest

from chargewatch.messages import Status, decode_message
from chargewatch.topics import agent_status_topic
from edge_agent.acker import Acker
from edge_agent.mqtt import MqttLink
from edge_agent.outbox import Outbox
from tests.agent.io.support import add_tel, mqtt_for, outbox_for
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


async def test_live_messages_are_acked_and_deleted(mosquitto: Mosquitto, tmp_path: Path) -> None:
    with Outbox(outbox_for(tmp_path)) as box:
        async with Acker(mosquitto.url) as acker, MqttLink(
            mqtt_for(mosquitto.url), box, agent="agent-1", devices=["pile-1"]
        ) as link:
            async with asyncio.timeout(10):
                await acker.wait_ready()
                await link.wait_connected()
            seqs = [add_tel(box, "pile-1", time.time()) for _ in range(200)]
            async with asyncio.timeout(10):
                await acker.wait_count(200)
                while box.depth():
                    await asyncio.sleep(0.02)
            assert acker.seqs("pile-1", box.boot) == seqs
            assert acker.duplicates == 0
            assert link.health.acked == 200
            status = await asyncio.to_thread(
                paho_subscribe.simple, agent_status_topic("agent-1"), hostname="127.0.0.1", port=mosquitto.port
            )
            msg = decode_message(status.payload)
            assert isinstance(msg, Status)
            assert msg.online and msg.boot == box.boot and msg.devices == ["pile-1"]

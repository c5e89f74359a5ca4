"""MQTT 3.1.1 (for brokers without MQTT 5, e.g. the demo's embedded broker) through a real Mosquitto."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from edge_agent.acker import Acker
from edge_agent.mqtt import MqttLink
from edge_agent.outbox import Outbox
from tests.agent.io.support import add_tel, last_status, mqtt_for, outbox_for, wait_empty
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


async def test_protocol_311_publishes_acks_and_resumes_after_broker_restart(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = mqtt_for(mosquitto.url, protocol="3.1.1")
    assert settings.protocol == "3.1.1"
    with Outbox(outbox_for(tmp_path)) as box:
        async with (
            Acker(mosquitto.url) as acker,
            MqttLink(settings, box, agent="agent-311", devices=["pile-1"]) as link,
        ):
            async with asyncio.timeout(10):
                await acker.wait_ready()
                await link.wait_connected()
            assert link._conn is not None
            assert link._conn.client.protocol == 4  # MQTT 3.1.1 on the wire
            seqs = [add_tel(box, "pile-1", time.time()) for _ in range(100)]
            mosquitto.kill()
            seqs += [add_tel(box, "pile-1", time.time()) for _ in range(100)]
            mosquitto.start()
            async with asyncio.timeout(20):
                await wait_empty(box)
            assert acker.seqs("pile-1", box.boot) == seqs
            assert acker.conflicts == 0
            status = await last_status(mosquitto.port, "agent-311")
            assert status.online
            assert status.boot == box.boot

"""MqttLink through a real Mosquitto: live publish, acks empty the outbox, retained status."""

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


async def test_live_messages_are_acked_and_deleted(mosquitto: Mosquitto, tmp_path: Path) -> None:
    with Outbox(outbox_for(tmp_path)) as box:
        async with (
            Acker(mosquitto.url) as acker,
            MqttLink(mqtt_for(mosquitto.url), box, agent="agent-1", devices=["pile-1"]) as link,
        ):
            async with asyncio.timeout(10):
                await acker.wait_ready()
                await link.wait_connected()
            seqs = [add_tel(box, "pile-1", time.time()) for _ in range(200)]
            async with asyncio.timeout(10):
                await acker.wait_count(200)
                await wait_empty(box)
            assert acker.seqs("pile-1", box.boot) == seqs
            assert acker.duplicates == 0
            assert link.health.acked == 200
            status = await last_status(mosquitto.port, "agent-1")
            assert status.online
            assert status.boot == box.boot
            assert status.devices == ["pile-1"]
            assert status.health["connected"] == 1.0

"""Crash test of the link alone: the broker killed with SIGKILL mid-stream.

The agent process killed many times is tested with the real ``chargewatch agent`` polling the
simulator in ``tests/agent/sim/test_sim_agent_kills.py``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge_agent.acker import Acker
from edge_agent.mqtt import MqttLink
from edge_agent.outbox import Outbox
from tests.agent.io.support import add_tel, mqtt_for, outbox_for, wait_empty
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


async def test_broker_sigkill_mid_stream_loses_nothing(mosquitto: Mosquitto, tmp_path: Path) -> None:
    with Outbox(outbox_for(tmp_path)) as box:
        async with (
            Acker(mosquitto.url) as acker,
            MqttLink(mqtt_for(mosquitto.url), box, agent="agent-1", devices=["pile-1"]) as link,
        ):
            async with asyncio.timeout(10):
                await acker.wait_ready()
                await link.wait_connected()
            committed = []
            for i in range(1500):
                committed.append(add_tel(box, "pile-1", 1000.0 + i))
                if i == 500:
                    mosquitto.kill()
                if i == 900:
                    mosquitto.start()
                await asyncio.sleep(0.001)
            async with asyncio.timeout(30):
                await wait_empty(box)
            assert acker.seqs("pile-1", box.boot) == committed
            assert acker.conflicts == 0
            print(f"broker kill: {len(committed)} committed, {acker.duplicates} duplicates deduped")

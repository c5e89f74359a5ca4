"""Crash tests: the broker and the producer process killed with SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from pathlib import Path

import pytest

from edge_agent.acker import Acker
from edge_agent.mqtt import MqttLink
from edge_agent.outbox import Outbox
from tests.agent.io.support import add_tel, last_status, mqtt_for, outbox_for, wait_empty
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


async def _drain(box: Outbox, url: str, agent: str, devices: list[str]) -> None:
    async with MqttLink(mqtt_for(url, agent), box, agent=agent, devices=devices):
        async with asyncio.timeout(30):
            await wait_empty(box)


def _contiguous(acker: Acker, device: str, boot: int) -> list[int]:
    seqs = acker.seqs(device, boot)
    assert seqs == list(range(len(seqs))), f"gap in boot {boot}"
    return seqs


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


async def test_producer_sigkill_many_times(mosquitto: Mosquitto, tmp_path: Path) -> None:
    rng = random.Random(7)
    boots: list[int] = []
    async with Acker(mosquitto.url) as acker:
        async with asyncio.timeout(10):
            await acker.wait_ready()
        for _ in range(15):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.agent.io.producer",
                str(tmp_path),
                mosquitto.url,
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
            )
            try:
                assert proc.stdout is not None
                async with asyncio.timeout(20):
                    line = (await proc.stdout.readline()).decode()
                assert line.startswith("boot "), line
                boots.append(int(line.split()[1]))
                await asyncio.sleep(rng.uniform(0.05, 0.5))
            finally:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
        status = await last_status(mosquitto.port, "producer")
        assert not status.online
        assert status.boot == boots[-1]
        with Outbox(outbox_for(tmp_path)) as box:
            assert box.boot == boots[-1] + 1
            await _drain(box, mosquitto.url, "producer", ["pile-k"])
    assert boots == list(range(boots[0], boots[0] + 15))
    total = sum(len(_contiguous(acker, "pile-k", b)) for b in boots)
    assert all(acker.seqs("pile-k", b) for b in boots)
    assert acker.conflicts == 0
    print(f"producer kills: 15, {total} messages delivered, {acker.duplicates} duplicates deduped")

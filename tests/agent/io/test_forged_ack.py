"""A forged ack naming seqs the agent never sent deletes nothing; every row still reaches the acker."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from chargewatch.mqtt_transport import Connection, Endpoint
from chargewatch.topics import ACK, device_topic
from edge_agent.acker import Acker
from edge_agent.mqtt import MqttLink
from edge_agent.outbox import Outbox
from tests.agent.io.support import add_tel, mqtt_for, outbox_for, wait_empty
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

FORGED = b'{"type":"ack","device":"pile-a1","boot":1,"ranges":[[0,9007199254740992]]}'


class _MaxDelay(random.Random):
    """Always the maximum drain delay: the queued forged ack arrives before the backlog goes out."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def _forge(port: int) -> None:
    ep = Endpoint(host="127.0.0.1", port=port, client_id="forger", clean_start=True)
    async with Connection(ep, lambda _t, _p: None) as conn:
        conn.publish(device_topic("pile-a1", ACK), FORGED)


async def test_forged_ack_deletes_nothing_unsent(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = outbox_for(tmp_path, reconnect_drain_delay_max=3.0)
    mqtt = mqtt_for(mosquitto.url)
    with Outbox(settings) as box:
        async with Acker(mosquitto.url, ack=False) as acker:
            async with asyncio.timeout(10):
                await acker.wait_ready()
            async with MqttLink(mqtt, box, agent="agent-1", devices=["pile-a1"], rng=_MaxDelay()) as link:
                async with asyncio.timeout(10):
                    await link.wait_connected()
                for i in range(10):
                    add_tel(box, "pile-a1", 1000.0 + i)
                async with asyncio.timeout(10):
                    await acker.wait_count(10)
            # offline: ten more rows are stored, never sent, and a forged ack waits in the session
            for i in range(10, 20):
                add_tel(box, "pile-a1", 1000.0 + i)
            await _forge(mosquitto.port)
            async with MqttLink(mqtt, box, agent="agent-1", devices=["pile-a1"], rng=_MaxDelay()) as link:
                async with asyncio.timeout(10):
                    while link.health.acks_beyond_sent == 0:  # noqa: ASYNC110 -- a counter, no event
                        await asyncio.sleep(0.01)
                assert box.depth() == 20, "the forged ack deleted stored rows"
                assert link.health.acked == 0
                warned = [r.getMessage() for r in caplog.records if "ack_beyond_sent" in r.getMessage()]
                assert warned == [
                    'ack_beyond_sent device=pile-a1 boot=1 ranges="[[0, 9007199254740992]]" highest_sent=-1'
                ]
                # the acker's own late acks of the first ten (sent by the previous link) are cut
                # the same way; those rows go out again after the drain delay and are acked then
                acker.ack_enabled = True
                async with asyncio.timeout(30):
                    await acker.wait_count(20)
                    await wait_empty(box)
    assert acker.seqs("pile-a1", box.boot) == list(range(20))

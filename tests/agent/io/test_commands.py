"""Commands through the broker to the agent's callback and back as a reply."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chargewatch.errors import ChargeWatchError
from chargewatch.messages import Command, CommandReply, decode_message, encode
from chargewatch.mqtt_transport import Connection, Endpoint
from chargewatch.topics import CMD, CMD_REPLY, device_topic
from edge_agent.mqtt import MqttLink
from edge_agent.outbox import Outbox
from tests.agent.io.support import mqtt_for, outbox_for
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


async def test_command_round_trip_and_bad_payloads(mosquitto: Mosquitto, tmp_path: Path) -> None:
    executed: list[Command] = []

    async def on_command(cmd: Command) -> CommandReply:
        executed.append(cmd)
        if cmd.point == "broken":
            raise ChargeWatchError("port 3 relay did not confirm")
        return CommandReply(id=cmd.id, device=cmd.device, ok=True)

    replies: asyncio.Queue[CommandReply] = asyncio.Queue()

    def on_reply(_topic: str, payload: bytes) -> None:
        msg = decode_message(payload)
        assert isinstance(msg, CommandReply)
        replies.put_nowait(msg)

    ep = Endpoint(host="127.0.0.1", port=mosquitto.port, client_id="operator", clean_start=True)
    with Outbox(outbox_for(tmp_path)) as box:
        async with (
            MqttLink(
                mqtt_for(mosquitto.url), box, agent="agent-1", devices=["pile-1"], on_command=on_command
            ) as link,
            Connection(ep, on_reply) as op,
        ):
            await op.subscribe([(device_topic("pile-1", CMD_REPLY), 1)])
            async with asyncio.timeout(10):
                await link.wait_connected()
            topic = device_topic("pile-1", CMD)
            stop = Command(id="c1", device="pile-1", point="port_enable", value=0.0, port=3, user="ops")
            op.publish(topic, encode(stop))
            op.publish(topic, encode(stop))
            op.publish(topic, b'{"type":"command","id":"c2","device":"pile-1","point":"x"}')
            op.publish(topic, b"not json")
            op.publish(topic, encode(Command(id="c3", device="pile-9", point="port_enable", value=1.0)))
            op.publish(topic, encode(Command(id="c4", device="pile-1", point="broken", value=1.0)))
            got: dict[str, list[CommandReply]] = {}
            async with asyncio.timeout(10):
                for _ in range(5):
                    r = await replies.get()
                    got.setdefault(r.id, []).append(r)
    assert [r.ok for r in got["c1"]] == [True, True]
    assert [c.id for c in executed] == ["c1", "c4"]
    assert executed[0].port == 3
    assert got["c2"][0].reason.startswith("invalid: schema")
    assert got["c3"][0].reason.startswith("device_mismatch")
    assert "relay did not confirm" in got["c4"][0].reason
    assert link.health.commands == 6

"""Signed commands through a real broker to the agent's callback and back as a reply.

Every refusal of :mod:`edge_agent.command_auth` is exercised through the link: unsigned, unknown
key, bad signature, expired, not yet valid, too long valid, issued before the agent started,
replayed, not allow-listed (point and device), device mismatch, and payloads too large or too
deep to parse (which get no reply and do not stop the link).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chargewatch.clock import ManualClock
from chargewatch.errors import ChargeWatchError
from chargewatch.messages import Command, CommandReply, decode_message, encode
from chargewatch.mqtt_transport import Connection, Endpoint
from chargewatch.signing import new_command, sign
from chargewatch.topics import CMD, CMD_REPLY, device_topic
from edge_agent.command_auth import CommandAuth, KeyPolicy
from edge_agent.mqtt import MqttLink
from edge_agent.outbox import Outbox
from tests.agent.io.support import mqtt_for, outbox_for
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

GW = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()


def _cmd(clock: ManualClock, point: str = "port_enable", device: str = "pile-1", **kw: float) -> Command:
    ttl = kw.pop("ttl", 60.0)
    at = clock.time() + kw.pop("dt", 0.0)
    return new_command(device=device, point=point, value=0.0, port=3, operator="ops", now=at, ttl=ttl)


async def test_signed_commands_and_every_refusal(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
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

    policy = KeyPolicy(
        "gw", GW.public_key(), frozenset({"port_enable", "broken"}), frozenset({"pile-1", "pile-9"})
    )
    auth = CommandAuth([policy], clock, max_validity=300.0, max_skew=30.0)
    clock.advance(10.0)
    ok = _cmd(clock)
    sent: dict[str, bytes] = {
        "ok": sign(ok, GW, "gw"),
        "replay": sign(ok, GW, "gw"),
        "unsigned": encode(_cmd(clock)),
        "unknown_key": sign(_cmd(clock), GW, "someone"),
        "bad_signature": sign(_cmd(clock), OTHER, "gw"),
        "expired": sign(_cmd(clock, dt=-5.0, ttl=2.0), GW, "gw"),
        "not_yet_valid": sign(_cmd(clock, dt=120.0), GW, "gw"),
        "validity_too_long": sign(_cmd(clock, ttl=3600.0), GW, "gw"),
        "issued_before_start": sign(_cmd(clock, dt=-20.0), GW, "gw"),
        "not_allowed_point": sign(_cmd(clock, point="relay_on"), GW, "gw"),
        "not_allowed_device": sign(_cmd(clock, device="pile-2"), GW, "gw"),
        "device_mismatch": sign(_cmd(clock, device="pile-9"), GW, "gw"),
        "failed": sign(_cmd(clock, point="broken"), GW, "gw"),
    }
    deep = b'{"type":"command","id":' + b"[" * 4000 + b"]" * 4000 + b"}"
    ep = Endpoint(host="127.0.0.1", port=mosquitto.port, client_id="operator", clean_start=True)
    with Outbox(outbox_for(tmp_path)) as box:
        async with (
            MqttLink(
                mqtt_for(mosquitto.url),
                box,
                agent="agent-1",
                devices=["pile-1", "pile-2"],
                on_command=on_command,
                command_auth=auth,
                clock=clock,
            ) as link,
            Connection(ep, on_reply) as op,
        ):
            await op.subscribe(
                [(device_topic("pile-1", CMD_REPLY), 1), (device_topic("pile-2", CMD_REPLY), 1)]
            )
            async with asyncio.timeout(10):
                await link.wait_connected()
            op.publish(device_topic("pile-1", CMD), deep)
            op.publish(device_topic("pile-1", CMD), b"x" * 10_000)
            op.publish(device_topic("pile-1", CMD), b"not json")
            got: dict[str, CommandReply] = {}
            for name, payload in sent.items():
                topic = device_topic("pile-2" if name == "not_allowed_device" else "pile-1", CMD)
                op.publish(topic, payload)
                async with asyncio.timeout(10):
                    got[name] = await replies.get()
    assert replies.empty()
    assert [c.nonce for c in executed] == [ok.nonce, executed[1].nonce]
    assert got["ok"].ok
    assert got["ok"].verified
    assert (got["ok"].operator, got["ok"].nonce, got["ok"].key, got["ok"].port) == ("ops", ok.nonce, "gw", 3)
    codes = {name: name for name in sent} | {
        "replay": "replayed",
        "not_allowed_point": "not_allowed",
        "not_allowed_device": "not_allowed",
    }
    for name, reply in got.items():
        if name != "ok":
            assert not reply.ok, name
            assert reply.reason.startswith(codes[name] + ":"), (name, reply.reason)
            assert reply.verified == (name not in {"unsigned", "unknown_key", "bad_signature"}), name
    assert "relay did not confirm" in got["failed"].reason
    unanswered = [r.getMessage() for r in caplog.records if "id=None" in r.getMessage()]
    assert [m.split('detail="')[1].split(":")[0] for m in unanswered] == [
        "too_deep",
        "too_large",
        "malformed",
    ]
    assert link.health.commands == len(sent) + 3
    assert link.health.commands_refused == len(sent) + 3 - 2


async def test_agent_without_trusted_keys_refuses_every_command(mosquitto: Mosquitto, tmp_path: Path) -> None:
    clock = ManualClock()
    executed: list[Command] = []

    async def on_command(cmd: Command) -> CommandReply:
        executed.append(cmd)
        return CommandReply(id=cmd.id, device=cmd.device, ok=True)

    got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    ep = Endpoint(host="127.0.0.1", port=mosquitto.port, client_id="operator", clean_start=True)
    with Outbox(outbox_for(tmp_path)) as box:
        async with (
            MqttLink(
                mqtt_for(mosquitto.url),
                box,
                agent="agent-1",
                devices=["pile-1"],
                on_command=on_command,
                clock=clock,
            ) as link,
            Connection(ep, lambda _t, p: None if got.done() else got.set_result(p)) as op,
        ):
            await op.subscribe([(device_topic("pile-1", CMD_REPLY), 1)])
            async with asyncio.timeout(10):
                await link.wait_connected()
            clock.advance(1.0)
            op.publish(device_topic("pile-1", CMD), sign(_cmd(clock), GW, "gw"))
            async with asyncio.timeout(10):
                reply = decode_message(await got)
    assert isinstance(reply, CommandReply)
    assert reply.reason.startswith("no_trusted_keys:")
    assert executed == []

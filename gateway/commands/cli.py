"""``chargewatch cmd``: sign one operator command with the gateway's key, publish it, print the reply.

Uses the gateway config for the broker (URL, username, password source, TLS files) and for the
signing key (``commands.signing_key_file``, ``key_id``, ``ttl_s``); connects under the client id
``<mqtt.client_id>-cmd`` with a clean session (the gateway's own session is left alone). Exit
code 0: the agent executed it; 1: refused or failed (the reason is printed); 2: bad arguments or
config; 3: no reply in time. The gateway, subscribed to command replies, writes the reply into
its audit trail (``GET /api/commands``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import sys

from chargewatch import logs
from chargewatch.errors import ConfigError, MessageError
from chargewatch.mqtt_transport import Connection, LinkError
from chargewatch.topics import CMD, CMD_REPLY, device_topic
from gateway.commands.audit import decode_reply
from gateway.commands.sender import CommandSender, load_sender
from gateway.config import GatewayConfig, load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chargewatch cmd", description=__doc__.split("\n")[0])
    p.add_argument("--gateway-config", required=True, help="gateway YAML with commands.signing_key_file")
    p.add_argument("--device", required=True)
    p.add_argument("--point", required=True, help="writable point, e.g. relay_on")
    p.add_argument("--value", required=True, type=float, help="e.g. 0 to switch a relay off")
    p.add_argument("--port", type=int, help="port number for per-port points")
    p.add_argument("--operator", default=getpass.getuser(), help="who asks (default: the login name)")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the reply")
    return p


async def _send(cfg: GatewayConfig, sender: CommandSender, args: argparse.Namespace) -> int:
    cmd, payload = sender.make(
        device=args.device, point=args.point, value=args.value, port=args.port, operator=args.operator
    )
    replies: asyncio.Queue[bytes] = asyncio.Queue()
    m = cfg.mqtt
    ep = dataclasses.replace(m.endpoint(clean_start=True, mqtt5=False), client_id=f"{m.client_id}-cmd")
    topic = device_topic(args.device, CMD_REPLY)
    async with Connection(ep, lambda _t, p: replies.put_nowait(p)) as conn:
        await conn.subscribe([(topic, 1)])
        conn.publish(device_topic(args.device, CMD), payload)
        print(f"sent {cmd.id} to {args.device} (nonce {cmd.nonce}, valid {sender.ttl:.0f} s)")
        try:
            async with asyncio.timeout(args.timeout):
                while True:
                    try:
                        reply = decode_reply(topic, await replies.get())
                    except MessageError as exc:
                        print(f"ignored a bad reply: {exc}", file=sys.stderr)
                        continue
                    if reply.id == cmd.id:
                        break
        except TimeoutError:
            print(f"no reply from {args.device} within {args.timeout} s", file=sys.stderr)
            return 3
    print(f"{'ok' if reply.ok else 'NOT DONE'}: {reply.reason or 'executed'}")
    return 0 if reply.ok else 1


def main(argv: list[str]) -> int:
    """Entry point dispatched from ``chargewatch_cli``."""
    args = _parser().parse_args(argv)
    logs.setup("WARNING")
    try:
        cfg = load_config(args.gateway_config)
        sender = load_sender(cfg.commands)
        if sender is None:
            print(
                f"chargewatch cmd: {args.gateway_config}: commands.signing_key_file is not set. "
                "Fix: chargewatch keygen --out DIR, then point the key at DIR/gateway.key",
                file=sys.stderr,
            )
            return 2
        return asyncio.run(_send(cfg, sender, args))
    except (ConfigError, ValueError) as exc:
        print(f"chargewatch cmd: {exc}", file=sys.stderr)
        return 2
    except LinkError as exc:
        print(f"chargewatch cmd: broker: {exc}", file=sys.stderr)
        return 2

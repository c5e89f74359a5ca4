"""``chargewatch broker-acl``: the Mosquitto ACL file, written from the configs operators already have.

Every agent gets publish rights only on its own devices' ``telemetry``, ``event`` and
``cmd/reply`` and on its own status topic (its last will included), and may subscribe only to
its own devices' ``ack`` and ``cmd``. Every gateway may publish ``ack``, ``alert`` and ``cmd`` of
any device and its own status, and read device telemetry, events, command replies and every
status. Readers (dashboards) may only read alerts and statuses. Nobody else may do anything.

Why explicit ``user`` blocks rather than ``pattern`` lines: Mosquitto applies a ``pattern`` to
every user, so ``pattern write cw/v1/agent/%u/status`` would also let a gateway or a dashboard
account write an agent status under its own name (a forged agent the gateway would believe),
and an agent owns several devices whose ids are not its username, which no ``%u``/``%c``
pattern can express. The file is regenerated whenever an agent config changes.

MQTT usernames: an agent's is its ``mqtt.username`` or else its ``agent_id``; a gateway's its
``mqtt.username`` or else its ``mqtt.client_id`` (its status topic uses the client id).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chargewatch import topics
from chargewatch.configfile import decode_file
from chargewatch.errors import ConfigError
from chargewatch.messages import ID_PATTERN
from edge_agent.config import AgentConfig
from gateway.config import GatewayConfig

_USERNAME = re.compile(r"[^\s#+/]{1,128}")


@dataclass(frozen=True)
class AgentAccount:
    """An agent's MQTT username, agent id and device ids, as its config says."""

    source: str
    username: str
    agent_id: str
    devices: tuple[str, ...]


@dataclass(frozen=True)
class GatewayAccount:
    """A gateway's MQTT username and client id (the id in its status topic)."""

    source: str
    username: str
    client_id: str


def agent_account(path: Path) -> AgentAccount:
    """Read an agent config (schema only: its profiles and key files may live elsewhere)."""
    cfg = decode_file(path, AgentConfig, "agent config", "configs/agent.example.yaml")
    devices = tuple(d.id for bus in cfg.buses for d in bus.devices)
    username = (cfg.mqtt.username if cfg.mqtt is not None else None) or cfg.agent_id
    return AgentAccount(str(path), username, cfg.agent_id, devices)


def gateway_account(path: Path) -> GatewayAccount:
    """Read a gateway config (schema only: its TLS files and secrets may live elsewhere)."""
    cfg = decode_file(path, GatewayConfig, "gateway config", "configs/gateway.example.yaml")
    if not re.match(ID_PATTERN, cfg.mqtt.client_id):
        raise ConfigError(
            f"{path}: mqtt.client_id {cfg.mqtt.client_id!r} is not an id. Fix: e.g. cw-gateway-1"
        )
    return GatewayAccount(str(path), cfg.mqtt.username or cfg.mqtt.client_id, cfg.mqtt.client_id)


def render(agents: Sequence[AgentAccount], gateways: Sequence[GatewayAccount], readers: Sequence[str]) -> str:
    """The ACL file text; ConfigError if two accounts share a username or a device has two agents."""
    owner: dict[str, str] = {}
    users: dict[str, str] = {}
    for name, source in [(a.username, a.source) for a in agents] + [(g.username, g.source) for g in gateways]:
        if not _USERNAME.fullmatch(name):
            raise ConfigError(
                f"{source}: MQTT username {name!r} cannot be named in an ACL. Fix: no spaces, #, + or /"
            )
        if name in users:
            raise ConfigError(
                f"{source}: MQTT username {name!r} is also used by {users[name]}. Fix: one per account"
            )
        users[name] = source
    for reader in readers:
        if not re.match(ID_PATTERN, reader):
            raise ConfigError(f"reader {reader!r} does not match {ID_PATTERN}. Fix: a plain username")
        if reader in users:
            raise ConfigError(
                f"reader {reader!r} is also the username of {users[reader]}. Fix: pick another name"
            )
    for a in agents:
        for dev in a.devices:
            if dev in owner:
                raise ConfigError(
                    f"{a.source}: device {dev!r} is also served by {owner[dev]}. Fix: one agent per device"
                )
            owner[dev] = a.source
    out = [
        "# Mosquitto ACL written by `chargewatch broker-acl`; do not edit by hand, regenerate it.",
        "# Sources: " + ", ".join([a.source for a in agents] + [g.source for g in gateways]),
        "# No pattern lines: Mosquitto applies them to every user (see chargewatch_cli/broker_acl.py).",
        "",
    ]
    for a in agents:
        out += [
            f"# agent {a.agent_id}",
            f"user {a.username}",
            f"topic write {topics.agent_status_topic(a.agent_id)}",
        ]
        for dev in a.devices:
            out += [
                f"topic write {topics.device_topic(dev, leaf)}" for leaf in (topics.TELEMETRY, topics.EVENT)
            ]
            out.append(f"topic write {topics.device_topic(dev, topics.CMD_REPLY)}")
            out += [f"topic read {topics.device_topic(dev, leaf)}" for leaf in (topics.ACK, topics.CMD)]
        out.append("")
    for g in gateways:
        out += [f"# gateway {g.client_id}", f"user {g.username}"]
        out += [
            f"topic read {topics.device_filter(leaf)}"
            for leaf in (topics.TELEMETRY, topics.EVENT, topics.CMD_REPLY)
        ]
        out += [f"topic read {topics.STATUS_FILTER}", f"topic read {topics.GATEWAY_STATUS_FILTER}"]
        out += [
            f"topic write {topics.device_filter(leaf)}" for leaf in (topics.ACK, topics.ALERT, topics.CMD)
        ]
        out += [f"topic write {topics.gateway_status_topic(g.client_id)}", ""]
    for reader in readers:
        out += [f"# reader {reader}", f"user {reader}", f"topic read {topics.device_filter(topics.ALERT)}"]
        out += [f"topic read {topics.STATUS_FILTER}", f"topic read {topics.GATEWAY_STATUS_FILTER}", ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """``chargewatch broker-acl --agent-config A.yaml ... --gateway-config G.yaml --reader NAME``."""
    p = argparse.ArgumentParser(prog="chargewatch broker-acl", description=__doc__.split("\n")[0])
    p.add_argument("--agent-config", action="append", default=[], type=Path, help="agent YAML (repeat)")
    p.add_argument("--gateway-config", action="append", default=[], type=Path, help="gateway YAML (repeat)")
    p.add_argument(
        "--reader", action="append", default=[], help="read-only username, e.g. a dashboard (repeat)"
    )
    p.add_argument("--out", type=Path, help="ACL file to write (default: stdout)")
    args = p.parse_args(argv)
    if not args.agent_config and not args.gateway_config:
        p.error("give at least one --agent-config or --gateway-config")
    try:
        text = render(
            [agent_account(path) for path in args.agent_config],
            [gateway_account(path) for path in args.gateway_config],
            args.reader,
        )
    except ConfigError as exc:
        print(f"chargewatch broker-acl: {exc}", file=sys.stderr)
        return 2
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        print(
            f"{args.out}: {len(args.agent_config)} agents, {len(args.gateway_config)} gateways, "
            f"{len(args.reader)} readers"
        )
    return 0

"""The shipped broker (configs/mosquitto/mosquitto.conf) with an ACL generated from test configs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chargewatch_cli.broker_acl import agent_account, gateway_account, render
from tests.security.broker import ShippedMosquitto
from tests.support.servers import Pki, running

DEVICES = {"agent-1": ("pile-a1", "pile-a2"), "agent-2": ("pile-b1",)}
LEAVES = ("telemetry", "event", "ack", "cmd", "cmd/reply", "alert")
USERS = {"agent-1": "pw-a1", "agent-two": "pw-a2", "gw": "pw-gw", "dashboard": "pw-dash", "intruder": "pw-x"}
# principal → MQTT username (agent-2 and the gateway have usernames other than their ids)
LOGIN = {
    "agent-1": "agent-1",
    "agent-2": "agent-two",
    "gateway": "gw",
    "dashboard": "dashboard",
    "intruder": "intruder",
}


def write_configs(tmp: Path) -> tuple[list[Path], Path]:
    agents = []
    for agent, devices in DEVICES.items():
        user = "" if LOGIN[agent] == agent else f"  username: {LOGIN[agent]}\n"
        devs = "".join(
            f"      - {{id: {d}, unit: {i + 1}, model: cw-pile-10, poll_s: 1.0}}\n"
            for i, d in enumerate(devices)
        )
        path = tmp / f"{agent}.yaml"
        path.write_text(
            f"agent_id: {agent}\nbuses:\n  - name: b\n    transport: tcp\n    port: 5020\n"
            f"    devices:\n{devs}"
            f"outbox: {{path: {tmp / agent}.sqlite3}}\n"
            f"mqtt:\n  url: mqtts://127.0.0.1:8883\n  client_id: {agent}\n{user}"
        )
        agents.append(path)
    gateway = tmp / "gateway.yaml"
    gateway.write_text(
        "mqtt:\n  client_id: cw-gateway-1\n  username: gw\nstore: {kind: sqlite, path: x.sqlite}\n"
    )
    return agents, gateway


@pytest.fixture
def broker(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShippedMosquitto]:
    """The shipped config, TLS with the session test CA, passwords USERS, ACL from write_configs."""
    agents, gateway = write_configs(tmp_path)
    acl = render([agent_account(p) for p in agents], [gateway_account(gateway)], ["dashboard"])
    pki = Pki.ensure(tmp_path_factory.getbasetemp() / "pki")
    workdir = tmp_path / "broker"
    workdir.mkdir()
    server = ShippedMosquitto(workdir, pki, USERS, acl)
    with running(server):
        yield server

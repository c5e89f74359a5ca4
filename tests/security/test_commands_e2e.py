"""Signed commands end to end through the shipped broker: the gateway's API and ``chargewatch cmd``
sign, the agent verifies and executes or refuses, and every command is in the audit trail; the
agent's data is published, stored and acked under the same ACL."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from chargewatch.clock import SystemClock
from chargewatch.messages import Command, CommandReply
from chargewatch.mqtt_config import MqttConfig
from chargewatch.signing import load_public_key, write_keypair
from edge_agent.command_auth import CommandAuth, KeyPolicy
from edge_agent.mqtt import MqttLink, MqttSettings
from edge_agent.outbox import Outbox, OutboxSettings
from gateway.app import Gateway
from gateway.commands.cli import main as cmd_main
from gateway.config import (
    CommandsConfig,
    GatewayConfig,
    HttpConfig,
    SpoolConfig,
    StoreConfig,
)
from gateway.users import UserConfig
from tests.agent.io.support import add_tel, wait_empty
from tests.gateway.ingest.support import write_config
from tests.security.broker import ShippedMosquitto
from tests.security.conftest import USERS
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-this-test"  # noqa: S105 -- a throwaway token


def _call(port: int, path: str, body: dict[str, Any] | None = None, token: str = TOKEN) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _gateway_config(tmp: Path, broker: ShippedMosquitto, key: Path) -> GatewayConfig:
    return GatewayConfig(
        site="t",
        analytics="threshold",
        mqtt=MqttConfig(
            url=broker.url,
            client_id="cw-gateway-1",
            keepalive_s=5,
            username="gw",
            password_env="CW_TEST_GW_PW",  # noqa: S106 -- the name of a variable
            ca_file=str(broker.pki.ca),
        ),
        store=StoreConfig(kind="sqlite", path=str(tmp / "store.sqlite")),
        spool=SpoolConfig(
            path=str(tmp / "spool.sqlite"),
            state_path=str(tmp / "state.sqlite"),
            analytics_path=str(tmp / "analytics.ckpt"),
        ),
        http=HttpConfig(
            bind="127.0.0.1",
            port=free_port(),
            users=[UserConfig(name="li.wei", role="operator", token_env="CW_TEST_API_TOKEN")],  # noqa: S106 -- a name
        ),
        commands=CommandsConfig(signing_key_file=str(key), key_id="gw-key", ttl_s=60.0),
    )


async def test_api_and_cli_commands_are_verified_executed_refused_and_audited(
    broker: ShippedMosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_TEST_GW_PW", USERS["gw"])
    monkeypatch.setenv("CW_TEST_AGENT_PW", USERS["agent-1"])
    monkeypatch.setenv("CW_TEST_API_TOKEN", TOKEN)
    private, public = write_keypair(tmp_path / "keys", "gw-key")
    cfg = _gateway_config(tmp_path, broker, private)
    executed: list[Command] = []

    async def on_command(cmd: Command) -> CommandReply:
        executed.append(cmd)
        return CommandReply(id=cmd.id, device=cmd.device, ok=True)

    policy = KeyPolicy("gw-key", load_public_key(public), frozenset({"relay_on"}), frozenset({"*"}))
    link_settings = MqttSettings(
        url=broker.url,
        client_id="agent-1",
        username="agent-1",
        password_env="CW_TEST_AGENT_PW",  # noqa: S106 -- the name of a variable
        ca_file=str(broker.pki.ca),
        backoff_initial_s=0.05,
        backoff_cap_s=0.5,
    )
    box_settings = OutboxSettings(path=str(tmp_path / "outbox.db"), synchronous="normal")
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        port = gw.http_port
        with Outbox(box_settings) as box:
            auth = CommandAuth([policy], SystemClock())
            async with MqttLink(
                link_settings,
                box,
                agent="agent-1",
                devices=["pile-a1", "pile-a2"],
                on_command=on_command,
                command_auth=auth,
            ) as link:
                async with asyncio.timeout(10):
                    await link.wait_connected()
                now = time.time()
                for i in range(20):  # data flows under the ACL too: published, stored, acked
                    add_tel(box, "pile-a1" if i % 2 else "pile-a2", now - 20 + i)
                async with asyncio.timeout(20):
                    await wait_empty(box)
                stop = {"device": "pile-a1", "point": "relay_on", "port": 2, "value": 0, "operator": "li.wei"}
                assert (await asyncio.to_thread(_call, port, "/api/commands", stop, "wrong"))[0] == 401
                status, sent = await asyncio.to_thread(_call, port, "/api/commands", stop)
                assert status == 202, sent
                reset = {"device": "pile-a2", "point": "alarm_reset", "value": 1, "operator": "li.wei"}
                status, refused = await asyncio.to_thread(_call, port, "/api/commands", reset)
                assert status == 202, refused
                write_config(cfg, tmp_path / "gw.yaml")
                argv = ["--gateway-config", str(tmp_path / "gw.yaml"), "--device", "pile-a2"]
                argv += ["--point", "relay_on", "--port", "0", "--value", "1", "--operator", "zhang"]
                assert await asyncio.to_thread(cmd_main, argv) == 0

                def audit() -> list[dict[str, Any]]:
                    rows: list[dict[str, Any]] = _call(port, "/api/commands?since=600")[1]
                    return rows

                async with asyncio.timeout(20):  # 2 sent + 3 replies reach the store through the spool
                    while len(rows := await asyncio.to_thread(audit)) < 5:  # noqa: ASYNC110 -- polls HTTP
                        await asyncio.sleep(0.1)
    assert [(c.device, c.point, c.port, c.value, c.operator) for c in executed] == [
        ("pile-a1", "relay_on", 2, 0.0, "li.wei"),
        ("pile-a2", "relay_on", 0, 1.0, "zhang"),
    ]
    by = {(r["id"], r["result"]): r for r in rows}
    assert set(by) == {
        (sent["id"], "sent"),
        (sent["id"], "ok"),
        (refused["id"], "sent"),
        (refused["id"], "refused"),
        (executed[1].id, "ok"),
    }
    done = by[(sent["id"], "ok")]
    assert (done["device"], done["point"], done["port"], done["operator"]) == (
        "pile-a1",
        "relay_on",
        2.0,
        "li.wei",
    )
    assert (done["nonce"], done["key"], done["verified"]) == (sent["nonce"], "gw-key", True)
    no = by[(refused["id"], "refused")]
    assert no["reason"].startswith("not_allowed: key 'gw-key' may not command 'alarm_reset'")
    assert by[(executed[1].id, "ok")]["operator"] == "zhang"
    assert link.health.commands_refused == 1
    assert (link.health.acked, link.health.acks_beyond_sent) == (20, 0)
    assert sorted(gw.liveness.devices) == ["pile-a1", "pile-a2"]
    m = gw.metrics
    assert m.get("cw_commands_sent_total") == 2
    assert (
        m.get("cw_command_replies_total", result="ok"),
        m.get("cw_command_replies_total", result="refused"),
    ) == (2, 1)

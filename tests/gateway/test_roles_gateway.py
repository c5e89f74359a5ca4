"""Roles through a real gateway (``chargewatch gateway --config`` as a child process, real
Mosquitto, SQLite store): a YAML config with a viewer (token) and an operator (password hash),
reads behind a login; an overheating port raises an alert; the viewer reads but cannot
acknowledge or stop a port, the operator can, and the audit trail carries the signed-in name."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
import pytest

from chargewatch import topics
from chargewatch.messages import Telemetry, encode
from chargewatch.signing import write_keypair
from gateway.config import CommandsConfig, HttpConfig, StoreConfig
from gateway.passwords import hash_password
from gateway.users import UserConfig
from tests.gateway.ingest.support import GatewayProcess, make_config, raw_publish, write_config
from tests.gateway.test_auth import CSRF, PASSWORD, VIEWER_TOKEN, _basic, _bearer, _raw, req
from tests.support.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration


def _hot(device: str, seq: int, ts: float) -> tuple[str, bytes, bool]:
    tel = Telemetry(
        device=device,
        boot=1,
        seq=seq,
        ts=ts,
        model="cw-pile-10",
        ports={"socket_temp": [95.0, *[30.0] * 9], "power": [300.0, *[0.0] * 9]},
        values={"ambient_temp": 25.0},
    )
    return topics.device_topic(device, topics.TELEMETRY), encode(tel), False


async def test_viewer_reads_operator_acts_and_the_audit_names_the_operator(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_TEST_WALL_TOKEN", VIEWER_TOKEN)
    private, _ = write_keypair(tmp_path / "keys", "gw-key")
    port = free_port()
    users = [
        UserConfig(name="wall", role="viewer", token_env="CW_TEST_WALL_TOKEN"),  # noqa: S106 -- a name
        UserConfig(name="zhang", role="operator", password_hash=hash_password(PASSWORD)),
    ]
    cfg = msgspec.structs.replace(
        make_config(tmp_path, mosquitto.port, "http://127.0.0.1:9"),
        store=StoreConfig(kind="sqlite", path=str(tmp_path / "ts.sqlite")),
        http=HttpConfig(bind="127.0.0.1", port=port, read="login", users=users),
        commands=CommandsConfig(signing_key_file=str(private), key_id="gw-key"),
    )
    gateway = GatewayProcess(write_config(cfg, tmp_path / "gw.yaml"), port, tmp_path / "gw.log", "/health")
    try:
        await asyncio.to_thread(gateway.start)
        now = time.time()
        await asyncio.to_thread(
            raw_publish, mosquitto.port, [_hot("pile-r1", s, now - 5 + s) for s in range(4)]
        )
        wall, zhang = _bearer(VIEWER_TOKEN), _basic("zhang", PASSWORD)
        deadline = time.monotonic() + 20
        while not (alerts := (await req(port, "/api/alerts?open=1", wall))[1]):
            assert time.monotonic() < deadline, "the overheating port raised no alert"
            await asyncio.sleep(0.1)
        (alert,) = alerts
        ack = f"/api/alerts/{alert['id']}/ack"
        stop = {"device": "pile-r1", "point": "relay_on", "port": 0, "value": 0}

        assert (await req(port, "/api/alerts"))[0] == 401  # no credential: no reads
        assert (await req(port, "/api/devices", _basic("zhang", "wrong password")))[0] == 401
        assert (await req(port, "/api/devices", wall))[0] == 200
        assert (await req(port, ack, wall | CSRF, {}))[0] == 403
        assert (await req(port, "/api/commands", wall, stop))[0] == 403
        assert (await req(port, ack, zhang | CSRF, {"user": "wall"}))[0] == 403  # not who signed in

        status, acked = await req(port, ack, zhang | CSRF, {})
        assert (status, acked["acked_by"]) == (200, "zhang")
        status, sent = await req(port, "/api/commands", zhang | CSRF, stop)
        assert status == 202, sent
        (stored,) = [a for a in (await req(port, "/api/alerts", wall))[1] if a["id"] == alert["id"]]
        assert stored["acked_by"] == "zhang"
        deadline = time.monotonic() + 20
        while not (audit := (await req(port, "/api/commands?since=600", wall))[1]):
            assert time.monotonic() < deadline, "the command never reached the audit trail"
            await asyncio.sleep(0.1)
        assert [(r["id"], r["result"], r["operator"]) for r in audit] == [(sent["id"], "sent", "zhang")]
        metrics = (await asyncio.to_thread(_raw, port, "/metrics", wall))[1].decode()
        assert 'cw_http_auth_failures_total{reason="bad_password"} 1' in metrics
        assert await asyncio.to_thread(gateway.terminate) == 0
    finally:
        gateway.kill()
    log = (tmp_path / "gw.log").read_text()
    assert "http_auth_failed remote=127.0.0.1 scheme=basic user=zhang reason=bad_password" in log
    assert "http_forbidden user=wall role=viewer method=POST" in log
    assert PASSWORD not in log
    assert VIEWER_TOKEN not in log

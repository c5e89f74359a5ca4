"""Backup of a running gateway's state and restore into a fresh state folder, through real
processes (``chargewatch gateway``, ``chargewatch gateway backup|restore``) and a real Mosquitto:
after the restore and a restart, re-sent messages are recognised as duplicates (the dedupe
marks survived) and the alert raised before the backup is still listed."""

from __future__ import annotations

import asyncio
import sqlite3
import tarfile
from pathlib import Path

import pytest

from chargewatch.messages import Telemetry
from gateway.config import GatewayConfig, SpoolConfig, StoreConfig
from gateway.metrics import parse_text
from tests.gateway.ingest.support import (
    GatewayProcess,
    ResendingPublisher,
    http_json,
    http_text,
    make_config,
    write_config,
)
from tests.ops.support import cli
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

DEVICES = ["p0", "hot", "live"]
ALERT = "hot.0.socket_temp_high.1"


def _config(tmp: Path, name: str, broker_port: int, store: Path) -> tuple[GatewayConfig, Path]:
    state = tmp / name
    state.mkdir()
    cfg = make_config(state, broker_port, "http://127.0.0.1:1", client_id="gw-backup")
    cfg.store = StoreConfig(kind="sqlite", path=str(store))
    cfg.spool = SpoolConfig(
        path=str(state / "spool.sqlite"),
        state_path=str(state / "state.sqlite"),
        analytics_path=str(state / "analytics.ckpt"),
    )
    return cfg, write_config(cfg, tmp / f"{name}.yaml")


async def test_backup_of_a_running_gateway_restores_marks_and_alerts(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    store = tmp_path / "store.sqlite"
    cfg, path = _config(tmp_path, "first", mosquitto.port, store)
    gw = GatewayProcess(path, cfg.http.port, tmp_path / "gw1.log")
    gw.start()
    pub = ResendingPublisher(mosquitto.port, DEVICES, resend_after=1.0)
    sent: list[Telemetry] = []
    try:
        for _ in range(15):
            for d in ("p0", "hot"):
                msg = pub.telemetry(d, temp=95.0 if d == "hot" else 30.0)
                sent.append(msg)
                pub.send(msg)
        await pub.settle(20)
        assert [a["id"] for a in await http_json(cfg.http.port, "/api/alerts")] == [ALERT]

        archive = tmp_path / "gateway-state.tar"
        args = ["gateway", "backup", "--config", str(path), "--out", str(archive)]
        backup = asyncio.create_task(asyncio.to_thread(cli, *args))
        live = 0
        while not backup.done():  # the gateway keeps writing spool and marks during the backup
            pub.send(pub.telemetry("live"))
            live += 1
            await asyncio.sleep(0.01)
        assert (await backup).returncode == 0, backup.result().stderr
        assert live > 0
        await pub.settle(20)
        assert gw.terminate() == 0
        with tarfile.open(archive) as tar:
            names = ["evidence.sqlite", "manifest.json", "spool.sqlite", "state.sqlite"]
            assert sorted(tar.getnames()) == names
            tar.extractall(tmp_path / "unpacked", filter="data")
        for name in ("spool.sqlite", "state.sqlite", "evidence.sqlite"):
            db = sqlite3.connect(tmp_path / "unpacked" / name)
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            version = 2 if name == "state.sqlite" else 1  # state: v2 added the alert history
            assert db.execute("PRAGMA user_version").fetchone() == (version,)
            db.close()

        cfg2, path2 = _config(tmp_path, "second", mosquitto.port, store)
        restored = cli("gateway", "restore", "--config", str(path2), "--from", str(archive))
        assert restored.returncode == 0, restored.stderr
        again = cli("gateway", "restore", "--config", str(path2), "--from", str(archive))
        assert again.returncode == 1
        assert "already exists" in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1

        gw = GatewayProcess(path2, cfg2.http.port, tmp_path / "gw2.log")
        gw.start()
        assert [a["id"] for a in await http_json(cfg2.http.port, "/api/alerts")] == [ALERT]
        for msg in sent:  # an agent re-sending what it never saw acked
            pub.send(msg)
        await pub.settle(20)
        metrics = parse_text(await http_text(cfg2.http.port, "/metrics"))
        assert metrics["cw_ingest_duplicates_total"] == len(sent)
        assert metrics["cw_ingest_messages_total"] == 0.0  # none accepted a second time
        assert gw.terminate() == 0
    finally:
        pub.close()
        gw.kill()

"""Evidence and port cuts through the real gateway: real Mosquitto, the Gateway app with its HTTP
API and SQLite store, and ``chargewatch evidence`` in a child process reading the state dir."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import pytest

from chargewatch.messages import Telemetry
from gateway.app import Gateway
from gateway.config import EvidenceConfig, HttpConfig, StoreConfig
from gateway.evidence import canonical
from gateway.users import UserConfig
from tests.gateway.ingest.support import ResendingPublisher, http_json, make_config, write_config
from tests.gateway.test_auth import VIEWER_TOKEN, _bearer, req
from tests.ops.support import cli
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

ALERT = "hot.0.socket_temp_high.1"
CUT = "hot.1.port_cut.1"


def _csv(port: int, path: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return resp.read(), dict(resp.headers)


def _tel(pub: ResendingPublisher, temp: float, cut: bool = False) -> Telemetry:
    msg = pub.telemetry("hot", temp=temp)
    codes: list[float | None] = [0.0] * 10
    codes[1] = 2.0 if cut else 0.0  # over_temperature: the pile cut port 1
    ports = {**msg.ports, "fault_code": codes}
    return msgspec.structs.replace(msg, ports=ports, values={"ambient_temp": 26.0, "total_power": 100.0})


async def _until_sealed(port: int, alert_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        doc: dict[str, Any] = await http_json(port, f"/api/alerts/{alert_id}/evidence")
        if doc.get("sealed") or time.monotonic() > deadline:
            return doc
        await asyncio.sleep(0.1)


async def test_an_alert_keeps_sealed_evidence_served_as_json_and_csv_and_exported_by_the_cli(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, "http://127.0.0.1:1")
    cfg = msgspec.structs.replace(
        cfg,
        store=StoreConfig(kind="sqlite", path=str(tmp_path / "store.sqlite")),
        evidence=EvidenceConfig(before_s=0.5, after_s=0.505, grace_s=0.0),
    )
    path = write_config(cfg, tmp_path / "gateway.yaml")
    pub = ResendingPublisher(mosquitto.port, ["hot"])
    try:
        async with Gateway(cfg) as gw:
            await gw.mqtt.wait_connected(10)
            for temp in [30.0] * 20 + [95.0] * 5:  # 0.01 s of source time apart; fires at seq 22
                pub.send(_tel(pub, temp))
            await pub.settle(20)
            opened = await http_json(gw.http_port, f"/api/alerts/{ALERT}/evidence")
            assert (opened["sealed"], opened["sha256"]) == (False, None)
            for _ in range(60):  # past the window's end (alert + 0.5 s)
                pub.send(_tel(pub, 95.0, cut=True))
            await pub.settle(20)
            doc = await _until_sealed(gw.http_port, ALERT)
            unknown = await http_json(gw.http_port, "/api/alerts/nope.0.x.1/evidence")
            body, headers = await asyncio.to_thread(_csv, gw.http_port, f"/api/alerts/{ALERT}/evidence.csv")
            acked = await http_json(gw.http_port, f"/api/alerts/{CUT}/ack", "POST", b'{"user": "li"}')
            await asyncio.sleep(1.0)  # the resolve is published with the next tick (0.25 s)
            alerts = {a["id"]: a for a in await http_json(gw.http_port, "/api/alerts")}
    finally:
        pub.close()

    assert doc["sealed"] is True, doc
    assert set(doc) >= {
        "alert_id",
        "device",
        "port",
        "kind",
        "alert_ts",
        "window",
        "sealed",
        "sha256",
        "series",
    }
    assert (doc["alert_id"], doc["device"], doc["port"], doc["kind"]) == (ALERT, "hot", 0, "socket_temp_high")
    assert doc["window"]["before_s"] == 0.5
    assert doc["sha256"] == hashlib.sha256(canonical(doc)).hexdigest()
    temps = next(s for s in doc["series"] if s["name"] == "socket_temp" and s["port"] == 0)
    assert temps["unit"] == "degC"
    assert len(temps["points"]) == 73, "seqs 0..72: 0.22 s before the alert, 0.5 s after"
    assert [v for _, v in temps["points"]].count(95.0) == 53
    ambient = next(s for s in doc["series"] if s["name"] == "ambient_temp")
    assert (ambient["scope"], ambient["port"], ambient["points"][0][1]) == ("pile", None, 26.0)
    assert "error" in unknown

    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig").splitlines()
    assert text[0].startswith(f"# alert={ALERT}")
    assert doc["sha256"] in text[0]
    assert text[1].startswith("时间 (time),时间戳(秒) (ts),测点 (series)")
    assert len(text) == 2 + sum(len(s["points"]) for s in doc["series"])
    assert headers["X-Evidence-SHA256"] == doc["sha256"]

    assert (acked["id"], acked["state"], acked["acked_by"]) == (CUT, "resolved", "li")
    assert alerts[CUT]["state"] == "resolved"
    assert alerts[ALERT]["state"] == "firing"

    out = tmp_path / "export"
    args = ["evidence", "--config", str(path), "--alert", ALERT, "--out", str(out)]
    done = await asyncio.to_thread(cli, *args)
    assert done.returncode == 0, done.stderr
    verified = await asyncio.to_thread(cli, *args, "--verify")
    assert verified.returncode == 0, verified.stderr
    assert "matches" in verified.stdout
    exported = json.loads((out / f"evidence-{ALERT}.json").read_bytes())
    assert exported["series"] == doc["series"]
    check = await asyncio.to_thread(
        subprocess.run,
        ["sha256sum", "-c", f"evidence-{ALERT}.json.sha256"],
        cwd=out,
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout
    listed = await asyncio.to_thread(cli, "evidence", "--config", str(path), "--list")
    assert {line.split("\t")[0] for line in listed.stdout.splitlines()} == {ALERT, CUT}
    (out / f"evidence-{ALERT}.json").write_bytes(json.dumps({**exported, "series": []}).encode())
    tampered = await asyncio.to_thread(cli, *args, "--verify")
    assert tampered.returncode == 1
    assert "altered" in tampered.stderr
    missing = await asyncio.to_thread(
        cli, "evidence", "--config", str(path), "--alert", "p9.0.x.1", "--out", str(out)
    )
    assert missing.returncode == 1
    assert "no sealed evidence for alert 'p9.0.x.1'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


async def test_evidence_is_read_behind_the_login_like_every_read(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CW_TEST_EVIDENCE_TOKEN", VIEWER_TOKEN)
    viewer = UserConfig(name="wall", role="viewer", token_env="CW_TEST_EVIDENCE_TOKEN")  # noqa: S106 -- a name
    cfg = make_config(tmp_path, mosquitto.port, "http://127.0.0.1:1")
    cfg = msgspec.structs.replace(
        cfg,
        store=StoreConfig(kind="sqlite", path=str(tmp_path / "store.sqlite")),
        http=HttpConfig(bind="127.0.0.1", port=cfg.http.port, read="login", users=[viewer]),
    )
    async with Gateway(cfg) as gw:
        path = f"/api/alerts/{ALERT}/evidence"
        anonymous = [(await req(gw.http_port, p))[0] for p in (path, path + ".csv")]
        signed_in = [(await req(gw.http_port, p, _bearer(VIEWER_TOKEN)))[0] for p in (path, path + ".csv")]
    assert anonymous == [401, 401]
    assert signed_in == [404, 404], "past the login: no such alert"

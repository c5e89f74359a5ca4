"""Evidence through a gateway kill -9: a real gateway process (``chargewatch gateway``), real
Mosquitto and InfluxDB 1.x. An alert's window is open when the gateway is killed with SIGKILL; the
restarted gateway rebuilds it from the store, the API and ``chargewatch evidence`` serve it with
the samples from before the alert, and a second restart writes nothing more."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from chargewatch.messages import Telemetry
from gateway.config import EvidenceConfig
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
from tests.support.servers import InfluxDB1, Mosquitto

pytestmark = pytest.mark.integration

OPEN = "hot.0.socket_temp_high.1"  # its window is open at the kill
DONE = "hot2.0.socket_temp_high.1"  # sealed before the kill


def _temps(doc: dict[str, Any]) -> list[list[float]]:
    points: list[list[float]] = next(
        s for s in doc["series"] if s["name"] == "socket_temp" and s["port"] == 0
    )["points"]
    return points


async def _until(port: int, alert_id: str, within: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        doc: dict[str, Any] = await http_json(port, f"/api/alerts/{alert_id}/evidence")
        if doc.get("sealed") or time.monotonic() > deadline:
            return doc
        await asyncio.sleep(0.1)


async def test_a_window_open_at_a_gateway_sigkill_is_rebuilt_from_influxdb_and_served_once(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    cfg = make_config(tmp_path, mosquitto.port, influxdb.url, client_id="gw-evidence")
    cfg = msgspec.structs.replace(cfg, evidence=EvidenceConfig(before_s=0.505, after_s=5.0, grace_s=0.0))
    path = write_config(cfg, tmp_path / "gateway.yaml")
    gw = GatewayProcess(path, cfg.http.port, tmp_path / "gw.log")
    pub = ResendingPublisher(mosquitto.port, ["hot", "hot2"])
    sent: list[Telemetry] = []
    try:
        gw.start()
        for temp in [30.0] * 3 + [95.0] * 3:  # hot2 fires at its seq 5 ...
            pub.send(pub.telemetry("hot2", temp))
        late = pub.telemetry("hot2", 95.0)  # ... and its source time passes the window's end
        pub.send(msgspec.structs.replace(late, ts=late.ts + 10.0))
        for temp in [30.0] * 60 + [95.0] * 10:  # 0.01 s apart: hot fires at seq 62
            sent.append(pub.telemetry("hot", temp))
            pub.send(sent[-1])
        await pub.settle(20)  # acked = committed to the spool
        done_before = await _until(cfg.http.port, DONE)
        opened = await http_json(cfg.http.port, f"/api/alerts/{OPEN}/evidence")
        assert (done_before["sealed"], opened["sealed"]) == (True, False)
        gw.kill()  # SIGKILL, the window of OPEN still open (it ends 5 s of source time on)

        listed = await asyncio.to_thread(cli, "evidence", "--config", str(path), "--list")
        assert [ln.split("\t")[0] for ln in listed.stdout.splitlines()] == [DONE], (
            "nothing sealed at the kill"
        )

        gw.start()
        doc = await _until(cfg.http.port, OPEN)
        metrics = parse_text(await http_text(cfg.http.port, "/metrics"))
        gw.kill()
        gw.start()  # the second restart: nothing left to rebuild
        again = await http_json(cfg.http.port, f"/api/alerts/{OPEN}/evidence")
        still = await http_json(cfg.http.port, f"/api/alerts/{DONE}/evidence")
        metrics_again = parse_text(await http_text(cfg.http.port, "/metrics"))
    finally:
        pub.close()
        gw.kill()

    assert (doc["sealed"], doc["sealed_reason"]) == (True, "rebuilt_from_store"), doc
    assert doc["rebuilt"]["from"].startswith("influxdb-v1 ")
    assert doc["rebuilt"]["seqs_missing"] == 0
    alert_ts = doc["alert_ts"]
    assert alert_ts == pytest.approx(sent[62].ts)
    temps = _temps(doc)
    want = [m for m in sent if doc["window"]["start"] <= m.ts <= doc["window"]["end"]]
    assert [m.seq for m in want] == list(range(12, 70)), "0.5 s before the alert, the rest after"
    assert len(temps) == len(want)
    assert [ts for ts, _ in temps] == sorted(ts for ts, _ in temps)
    for (ts, value), m in zip(temps, want, strict=True):
        assert ts == pytest.approx(m.ts, abs=0.0005), "stored to the millisecond"
        assert value == m.ports["socket_temp"][0]
    before = [v for ts, v in temps if ts < alert_ts - 0.001]  # the alert's own sample: ± 0.5 ms
    assert before == [30.0] * 48 + [95.0] * 2, "the samples from before the alert, in order"
    assert metrics["cw_evidence_rebuilt_total"] == 1.0

    assert again["sha256"] == doc["sha256"], "never rewritten"
    assert still["sha256"] == done_before["sha256"], "sealed before the kill: untouched"
    assert still["sealed_reason"] == "after_window"
    assert metrics_again["cw_evidence_rebuilt_total"] == 0.0
    log = (tmp_path / "gw.log").read_text()
    assert log.count("evidence_rebuilt") == 1, "one structured line per rebuilt window, once"

    out = tmp_path / "export"
    args = ["evidence", "--config", str(path), "--alert", OPEN, "--out", str(out)]
    exported = await asyncio.to_thread(cli, *args)
    assert exported.returncode == 0, exported.stderr
    verified = await asyncio.to_thread(cli, *args, "--verify")
    assert verified.returncode == 0, verified.stderr
    body = json.loads((out / f"evidence-{OPEN}.json").read_bytes())
    assert body["sealed_reason"] == "rebuilt_from_store"
    assert body["series"] == doc["series"]
    listed = await asyncio.to_thread(cli, "evidence", "--config", str(path), "--list")
    assert sorted(ln.split("\t")[0] for ln in listed.stdout.splitlines()) == [OPEN, DONE]

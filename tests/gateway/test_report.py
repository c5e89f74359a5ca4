"""``chargewatch report`` on a store and alert book filled by the real gateway (real Mosquitto,
SQLite store, the analytics pipeline) from synthetic messages: the files, the numbers, and
charts that are real, non-blank PNGs."""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
import pytest
from matplotlib import image

from chargewatch import topics
from chargewatch.messages import Event, Telemetry, encode
from gateway.app import Gateway
from gateway.config import StoreConfig
from tests.gateway.ingest.support import REPO, http_json, make_config, raw_publish, write_config
from tests.gateway.test_sessions import TARIFF, Pile, charges
from tests.support.servers import InfluxDB1, Mosquitto

pytestmark = pytest.mark.integration


def _noon_zone(now: float) -> str:
    """An IANA zone where ``now`` is near local noon, so the test's data never straddles midnight."""
    hour = datetime.fromtimestamp(now, UTC).hour
    offset = (12 - hour + 12) % 24 - 12  # local = UTC + offset
    return f"Etc/GMT{'-' if offset >= 0 else '+'}{abs(offset)}"  # POSIX sign: GMT-8 is UTC+8


def _blocker(seq: int, ts: float, camera: float) -> tuple[str, bytes, bool]:
    tel = Telemetry(
        device="lift-1",
        boot=1,
        seq=seq,
        ts=ts,
        model="cw-blocker",
        values={"camera_online": camera, "detections": float(seq), "door_hold": 0.0},
    )
    return topics.device_topic("lift-1", topics.TELEMETRY), encode(tel), False


def _event(
    device: str, seq: int, ts: float, kind: str, port: int | None, *, data: dict[str, float | str | bool]
) -> tuple[str, bytes, bool]:
    ev = Event(device=device, boot=1, seq=seq, ts=ts, kind=kind, port=port, data=data)  # type: ignore[arg-type]
    return topics.device_topic(device, topics.EVENT), encode(ev), False


def _report(config: Path, site: str, day: str, out: Path) -> subprocess.CompletedProcess[str]:
    argv = ["report", "--config", str(config), "--site", site, "--date", day, "--out", str(out)]
    return subprocess.run(
        [sys.executable, "-m", "chargewatch_cli", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _rows(path: Path) -> list[dict[str, str]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("kind", ["sqlite", "influx_v1"])
async def test_daily_report_from_a_gateway_run(
    tmp_path: Path, mosquitto: Mosquitto, kind: str, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        store = StoreConfig(kind="sqlite", path=str(tmp_path / "ts.sqlite"))
    else:
        influx: InfluxDB1 = request.getfixturevalue("influxdb")
        store = StoreConfig(kind="influx_v1", url=influx.url, db="cw")
    now = time.time()
    tariff = msgspec.structs.replace(TARIFF, timezone=_noon_zone(now))
    cfg = make_config(tmp_path, mosquitto.port, "http://127.0.0.1:9", analytics="pipeline")
    cfg = msgspec.structs.replace(cfg, store=store, tariff=tariff)
    config = write_config(cfg, tmp_path / "gateway.yaml")
    pile = Pile("pile-a", now - 200)
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        msgs = charges(pile)
        trip_ts = pile.t0 + 5 * 15 + 1
        msgs.insert(
            6,
            _event(
                "pile-a",
                100,
                trip_ts,
                "interlock",
                1,
                data={"rule": "socket_temp", "value": 77.5, "limit": 75.0, "verified": True},
            ),
        )
        msgs += [_blocker(k, now - 100 + k * 10, 0.0 if k == 3 else 1.0) for k in range(4)]
        msgs += [
            _event("lift-1", 10, now - 95, "detection", None, data={"count": 2.0, "total": 2.0}),
            _event("lift-1", 11, now - 75, "detection", None, data={"count": 1.0, "total": 3.0}),
        ]
        raw_publish(mosquitto.port, msgs)
        deadline = time.monotonic() + 20
        while len(await http_json(gw.http_port, "/api/sessions")) < 2:
            assert time.monotonic() < deadline, "sessions never stored"
        overtemp = next(a for a in gw.alerts(False) if a["kind"] == "socket_overtemp")
        await http_json(gw.http_port, f"/api/alerts/{overtemp['id']}/ack", "POST", b'{"user": "wang"}')
        await gw.spool.flush()
    day = datetime.fromtimestamp(now, gw.timezone()).date().isoformat()
    out = tmp_path / "report"
    done = await asyncio.to_thread(_report, config, "test", day, out)
    assert done.returncode == 0, done.stderr
    assert "wrote 10 files" in done.stdout

    (pile_row,) = _rows(out / "piles.csv")
    assert pile_row["充电桩 (pile)"] == "pile-a"
    assert pile_row["充电次数 (sessions)"] == "2"
    assert float(pile_row["电量 kWh (energy)"]) == pytest.approx(0.11 + 0.055)
    assert float(pile_row["费用 CNY (fees)"]) == pytest.approx(0.17 + 0.09)
    assert pile_row["桩保护断电 (pile trips)"] == "0"  # the agent's interlock cut port 2 first
    kinds = {r["告警类型 (kind)"]: r for r in _rows(out / "alerts_by_kind.csv")}
    overheat = kinds["插座过温 (socket_overtemp)"]
    assert overheat["已确认 (acknowledged)"] == "1"
    assert float(overheat["确认用时中位数 分钟 (median min to ack)"]) >= 0
    (lift,) = _rows(out / "blockers.csv")
    assert (lift["梯控 (blocker)"], lift["摄像头在线率 (camera online)"]) == ("lift-1", "75.0%")
    assert lift["拦截次数 (blocked entries)"] == "3"
    trips = _rows(out / "trips.csv")
    assert [(t["设备 (device)"], t["端口 (port)"], t["规则 (rule)"], t["读数 (value)"]) for t in trips] == [
        ("pile-a", "2", "socket_temp", "77.5")
    ]
    reasons = sorted(r["结束原因 (end_reason)"] for r in _rows(out / "sessions.csv"))
    assert reasons == ["充满 (full)", "联锁断电 (interlock)"]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "充电设施安全监管日报" in page
    assert "<img src='energy_fees.png'" in page
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing fetched from outside
    for name in ("energy_fees.png", "alerts.png"):
        raw = (out / name).read_bytes()
        assert raw.startswith(b"\x89PNG\r\n\x1a\n")
        pixels = np.asarray(image.imread(out / name))
        assert pixels.shape[:2] == (400, 800)
        assert float(pixels[..., :3].std()) > 0.05  # bars, labels, axes: not a blank canvas
        assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 20


def test_report_refuses_another_site_and_bad_dates(tmp_path: Path) -> None:
    config = REPO / "configs" / "gateway.example.yaml"
    for site, day, message in (
        ("elsewhere", "2026-12-04", "serves site 'demo-site', not 'elsewhere'"),
        ("demo-site", "04.12.2026", "is not YYYY-MM-DD"),
    ):
        done = _report(config, site, day, tmp_path)
        assert (done.returncode, message in done.stderr) == (2, True), done.stderr

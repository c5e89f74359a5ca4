"""Charging sessions through the real gateway: real Mosquitto, real InfluxDB 1.x or the SQLite
store. Simulated charges end; ``session`` points with fees appear in the store and in
``/api/sessions``; a session open across a gateway restart ends as one session; the CSV parses."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from analytics.sessions import Period, Tariff
from chargewatch import topics
from chargewatch.errors import ConfigError
from chargewatch.messages import Telemetry, encode
from gateway.app import Gateway
from gateway.config import GatewayConfig, StoreConfig, load_config
from tests.gateway.ingest.support import (
    REPO,
    GatewayProcess,
    http_json,
    influxql,
    make_config,
    raw_publish,
    wait_for,
    write_config,
)
from tests.support.servers import InfluxDB1, Mosquitto

pytestmark = pytest.mark.integration

DT = 15.0
TARIFF = Tariff(
    id="test-tou",
    version=3,
    periods=(Period(name="平", start="00:00", end="00:00", price_per_kwh=1.0),),
    service_per_kwh=0.5,
)
CHARGING, FULL, FAULT, IDLE = 1.0, 2.0, 3.0, 0.0
PORTS = 10  # cw-pile-10: the gateway refuses telemetry of another width
IDLE_VALUES: dict[str, float | None] = {
    "state": IDLE,
    "power": 0.0,
    "current": 0.0,
    "voltage": 220.0,
    "socket_temp": 25.0,
    "energy": 0.0,
    "fault_code": 0.0,
}


class Pile:
    """Telemetry of a cw-pile-10 at DT-second source timestamps (ports 2..9 idle)."""

    def __init__(self, device: str, t0: float) -> None:
        self.device = device
        self.t0 = t0
        self.seq = 0

    def msg(
        self,
        states: Sequence[float],
        power: Sequence[float],
        temp: Sequence[float],
        meter: Sequence[float],
        fault: Sequence[float] = (0.0, 0.0),
    ) -> tuple[str, bytes, bool]:
        cols = {
            "state": states,
            "power": power,
            "current": [p / 220.0 for p in power],
            "voltage": [220.0, 220.0],
            "socket_temp": temp,
            "energy": meter,
            "fault_code": fault,
        }
        tel = Telemetry(
            device=self.device,
            boot=1,
            seq=self.seq,
            ts=self.t0 + self.seq * DT,
            model="cw-pile-10",
            ports={k: [*v, *[IDLE_VALUES[k]] * (PORTS - len(v))] for k, v in cols.items()},
            values={"ambient_temp": 25.0},
        )
        self.seq += 1
        return topics.device_topic(self.device, topics.TELEMETRY), encode(tel), False


def _config(tmp: Path, mosquitto: Mosquitto, store: StoreConfig) -> GatewayConfig:
    cfg = make_config(tmp, mosquitto.port, "http://127.0.0.1:9", analytics="pipeline")
    return msgspec.structs.replace(cfg, store=store, tariff=TARIFF)


async def _sessions(port: int, n: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while len(got) < n:
        assert time.monotonic() < deadline, f"only {len(got)} of {n} sessions reached /api/sessions"
        await asyncio.sleep(0.2)
        got = await http_json(port, "/api/sessions")
        assert isinstance(got, list), got
    return got


def charges(pile: Pile) -> list[tuple[str, bytes, bool]]:
    """Port 0 charges at 400 W, floats, is unplugged; port 1 overheats until the pile trips it."""
    out = []
    for k in range(12):  # 6 min: port 0 at 400 W then float, meter +0.01 kWh a sample
        p0, s0 = (400.0, CHARGING) if k < 8 else (20.0, FULL)
        out.append(pile.msg([s0, CHARGING], [p0, 300.0], [40.0, 60.0 + 3 * k], [0.01 * k, 0.005 * k]))
    out.append(pile.msg([IDLE, FAULT], [0.0, 0.0], [38.0, 95.0], [0.11, 0.055], [0.0, 2.0]))
    return out


@pytest.mark.parametrize("kind", ["sqlite", "influx_v1"])
async def test_sessions_are_stored_with_fees_and_exported(
    tmp_path: Path, mosquitto: Mosquitto, kind: str, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        store = StoreConfig(kind="sqlite", path=str(tmp_path / "ts.sqlite"))
    else:
        influx: InfluxDB1 = request.getfixturevalue("influxdb")
        store = StoreConfig(kind="influx_v1", url=influx.url, db="cw")
    cfg = _config(tmp_path, mosquitto, store)
    pile = Pile("pile-a", time.time() - 200)
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        raw_publish(mosquitto.port, charges(pile))
        got = await _sessions(gw.http_port, 2)
        assert gw.hook is not None
        assert gw.hook.pipeline.finished == []  # drained into the spool, not kept in memory
        assert gw.metrics.get("cw_sessions_total") == 2
        by_port = {s["port"]: s for s in got}
        assert sorted(by_port) == [1, 2]  # as printed on the pile; wire ports 0 and 1
        full, hot = by_port[1], by_port[2]
        ended = (full["port_index"], full["end_reason"], hot["end_reason"])
        assert ended == (0, "full", "over_temperature"), [
            {k: s.get(k) for k in ("port", "start", "end", "end_reason", "energy_kwh", "alerts")} for s in got
        ]
        assert full["start"] == pile.t0
        assert full["end"] == pile.t0 + 11 * DT
        assert full["duration_s"] == 11 * DT
        assert (full["energy_kwh"], full["energy_source"]) == (0.11, "meter")
        assert full["measured_kwh"] == pytest.approx((7 * 400 + 4 * 20) * DT / 3.6e6, abs=1e-4)
        assert full["peak_w"] == pytest.approx(400.0, abs=1.0)
        assert full["fee"]["electricity"] == 0.11
        assert full["fee"]["service"] == 0.06  # 0.055 rounded half-up
        assert (full["fee"]["total"], full["fee"]["currency"]) == (0.17, "CNY")
        assert (full["fee"]["tariff_id"], full["fee"]["tariff_version"]) == ("test-tou", 3)
        assert [p["name"] for p in full["fee"]["periods"]] == ["平"]
        assert "socket_overtemp" not in full["alerts"]["kinds"]  # port 1's alert is not port 0's
        assert all(i.startswith("pile-a.0.") for i in full["alerts"]["ids"])
        assert hot["peak_temp_c"] == 93.0
        assert hot["alerts"]["count"] >= 1
        assert "socket_overtemp" in hot["alerts"]["kinds"]
        assert all(i.startswith("pile-a.1.") for i in hot["alerts"]["ids"])
        assert (hot["fee"]["electricity"], hot["fee"]["total"]) == (0.06, 0.09)

        assert await http_json(gw.http_port, "/api/sessions?device=pile-a&limit=1") == [got[-1]]
        assert await http_json(gw.http_port, "/api/sessions?device=other") == []
        assert "since" in (await http_json(gw.http_port, "/api/sessions?since=yesterday"))["error"]

        raw = await asyncio.to_thread(_get, gw.http_port, "/api/sessions.csv")
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        assert len(rows) == 2
        first = {r["端口 (port)"]: r for r in rows}["1"]
        assert first["设备 (device)"] == "pile-a"
        assert first["结束原因 (end_reason)"] == "充满 (full)"
        assert (first["电量(kWh) (energy_kwh)"], first["合计 (total)"]) == ("0.11", "0.17")
        en = list(
            csv.DictReader(
                io.StringIO(
                    (await asyncio.to_thread(_get, gw.http_port, "/api/sessions.csv?lang=en")).decode(
                        "utf-8-sig"
                    )
                )
            )
        )
        assert sorted(r["total"] for r in en) == ["0.09", "0.17"]
    if kind == "influx_v1":
        series = influxql(store.url, "SELECT fee_total, end_reason FROM session GROUP BY port")
        assert {s["tags"]["port"]: s["values"][0][1:] for s in series} == {
            "0": [0.17, "full"],
            "1": [0.09, "over_temperature"],
        }


def _get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return bytes(resp.read())


async def test_open_session_survives_a_gateway_restart(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = _config(tmp_path, mosquitto, StoreConfig(kind="sqlite", path=str(tmp_path / "ts.sqlite")))
    pile = Pile("pile-b", time.time() - 200)
    charging = [CHARGING, IDLE]
    async with Gateway(cfg) as gw:
        await gw.mqtt.wait_connected(10)
        raw_publish(
            mosquitto.port,
            [pile.msg(charging, [500.0, 0.0], [40.0, 30.0], [0.01 * k, 0.0]) for k in range(6)],
        )
        await wait_for(
            lambda: gw.pipeline.last.get("pile-b") is not None and gw.pipeline.last["pile-b"].seq == 5,
            10,
            "first half analysed",
        )
        assert await http_json(gw.http_port, "/api/sessions") == []
    async with Gateway(cfg) as gw:  # the checkpoint written at shutdown carries the open session
        await gw.mqtt.wait_connected(10)
        raw_publish(
            mosquitto.port,
            [pile.msg(charging, [500.0, 0.0], [40.0, 30.0], [0.01 * k, 0.0]) for k in range(6, 10)],
        )
        raw_publish(mosquitto.port, [pile.msg([IDLE, IDLE], [0.0, 0.0], [35.0, 30.0], [0.09, 0.0])])
        (s,) = await _sessions(gw.http_port, 1)
    assert (s["start"], s["end"], s["end_reason"]) == (pile.t0, pile.t0 + 9 * DT, "unplugged")
    assert s["energy_kwh"] == 0.09
    assert s["measured_kwh"] == pytest.approx(500 * 9 * DT / 3.6e6, abs=1e-4)
    assert (s["fee"]["electricity"], s["fee"]["service"], s["fee"]["total"]) == (0.09, 0.05, 0.14)


def test_a_bad_tariff_stops_the_gateway_config_naming_the_key(tmp_path: Path) -> None:
    text = (REPO / "configs" / "gateway.example.yaml").read_text()
    good = load_config(REPO / "configs" / "gateway.example.yaml")
    assert (good.tariff.id, [p.name for p in good.tariff.periods]) == (
        "residential-tou-2026",
        ["峰", "平", "峰", "谷"],
    )
    bad = tmp_path / "gateway.yaml"
    bad.write_text(text.replace('start: "22:00", end: "08:00"', 'start: "22:00", end: "07:00"'))
    with pytest.raises(ConfigError, match=r"gateway.yaml: tariff.periods do not cover 07:00"):
        load_config(bad)


async def test_open_session_survives_a_gateway_kill_9(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The periodic checkpoint (taken between batches) carries the open session across a crash."""
    cfg = _config(tmp_path, mosquitto, StoreConfig(kind="sqlite", path=str(tmp_path / "ts.sqlite")))
    cfg = msgspec.structs.replace(cfg, checkpoint_every_s=0.2)
    config = write_config(cfg, tmp_path / "gateway.yaml")
    ckpt = Path(cfg.spool.analytics_path)
    proc = GatewayProcess(config, cfg.http.port, tmp_path / "gateway.log")
    pile = Pile("pile-c", time.time() - 200)
    charging = [CHARGING, IDLE]
    try:
        proc.start()
        raw_publish(
            mosquitto.port,
            [pile.msg(charging, [500.0, 0.0], [40.0, 30.0], [0.01 * k, 0.0]) for k in range(6)],
        )
        deadline = time.monotonic() + 15
        while not any(
            d.get("ts") == pile.t0 + 5 * DT for d in await http_json(cfg.http.port, "/api/devices")
        ):
            assert time.monotonic() < deadline, "first half never analysed"
            await asyncio.sleep(0.1)
        analysed = time.time()
        await wait_for(lambda: ckpt.exists() and ckpt.stat().st_mtime > analysed, 15, "a checkpoint after it")
        proc.kill()
        proc.start()
        raw_publish(
            mosquitto.port,
            [pile.msg(charging, [500.0, 0.0], [40.0, 30.0], [0.01 * k, 0.0]) for k in range(6, 10)],
        )
        raw_publish(mosquitto.port, [pile.msg([IDLE, IDLE], [0.0, 0.0], [35.0, 30.0], [0.09, 0.0])])
        (s,) = await _sessions(cfg.http.port, 1)
    finally:
        proc.kill()
    assert (s["start"], s["end"], s["end_reason"], s["energy_kwh"]) == (
        pile.t0,
        pile.t0 + 9 * DT,
        "unplugged",
        0.09,
    )

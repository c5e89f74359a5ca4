"""The store read of a rebuilt evidence window against a real VictoriaMetrics, beside SQLite:
the same points written to both read back as the same messages, event text included."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import pytest

from chargewatch.messages import Event, Telemetry
from chargewatch.profiles import load_profiles
from gateway.evidence import Window
from gateway.evidence.fromstore import StoreRead, read_messages
from gateway.lineproto import event_lines, resolution, telemetry_lines
from gateway.store import InfluxV2Store, SQLiteStore
from tests.gateway.evidence.support import tel
from tests.support.servers import VictoriaMetrics

pytestmark = pytest.mark.integration

T0 = float(int(time.time()) // 60 * 60 - 3600)  # inside VictoriaMetrics' retention, past its latency offset


def _lines() -> list[str]:
    res = resolution(load_profiles()["cw-pile-10"])
    out = [
        ln for s in range(8) if s != 4 for ln in telemetry_lines(tel(s, 30.0 + s, ts=T0 + s), "s", res=res)
    ]
    cut = Event(
        device="d1",
        boot=1,
        seq=4,
        ts=T0 + 4,
        kind="interlock",
        port=3,
        data={
            "rule": "socket_temp",
            "detail": 'cut, "port 3" = 91 °C\n插座过热',
            "verified": True,
            "value": 91.0,
        },
    )
    return out + event_lines(cut, "s")


def _flush(url: str) -> None:
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=10).close()


def _temps(read: StoreRead) -> list[tuple[int, float | None]]:
    return [(m.seq, m.ports["socket_temp"][3]) for m in read.messages if isinstance(m, Telemetry)]


async def test_victoria_and_sqlite_give_back_the_same_window(
    tmp_path: Path, victoria: VictoriaMetrics
) -> None:
    profiles = load_profiles()
    w = Window(
        "d1.3.socket_temp_high.1", "d1", 3, "socket_temp_high", T0 + 5, 4.0, 1.0, T0, 100, settled_ts=T0 + 5
    )
    async with (
        InfluxV2Store(victoria.url, org="cw", bucket="cw") as vm,
        SQLiteStore(tmp_path / "s.sqlite") as lite,
    ):
        await vm.write(_lines())
        await lite.write(_lines())
        await asyncio.to_thread(_flush, victoria.url)
        from_vm = await read_messages(vm, profiles, w, w.end)
        from_lite = await read_messages(lite, profiles, w, w.end)

    expected = [(s, 30.0 + s) for s in (1, 2, 3, 5, 6)]  # window [T0 + 1, T0 + 6]
    assert _temps(from_lite) == expected
    assert _temps(from_vm) == expected
    for read in (from_vm, from_lite):
        assert [type(m).__name__ for m in read.messages].count("Event") == 1
        assert read.rebuilt["seqs_missing"] == 0, "seq 4 is the interlock event"
    vm_cut = next(m for m in from_vm.messages if isinstance(m, Event))
    lite_cut = next(m for m in from_lite.messages if isinstance(m, Event))
    assert (vm_cut.kind, vm_cut.port) == ("interlock", 3)
    assert (
        vm_cut.data
        == lite_cut.data
        == {
            "rule": "socket_temp",
            "detail": 'cut, "port 3" = 91 °C\n插座过热',
            "verified": True,
            "value": 91.0,
        }
    )
    assert from_vm.rebuilt["from"].startswith("influxdb-v2 ")
    assert from_vm.rebuilt["not_stored"] == from_lite.rebuilt["not_stored"]
    assert {k: v for k, v in from_vm.rebuilt.items() if k != "from"} == {
        k: v for k, v in from_lite.rebuilt.items() if k != "from"
    }
    assert "event_text_not_stored" not in from_vm.rebuilt

"""InfluxV2Store against a real VictoriaMetrics, and the embedded SQLite store."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import urllib.request
from pathlib import Path

import msgspec
import pytest

from chargewatch.messages import Telemetry
from gateway.lineproto import line, telemetry_lines
from gateway.store import InfluxV2Store, PartialWriteError, SQLiteStore, store_ceiling
from tests.support.servers import VictoriaMetrics

T0 = (int(time.time()) // 60 - 60) * 60_000  # VictoriaMetrics drops samples outside its retention


def _lines(n: int) -> list[str]:
    out: list[str] = []
    for seq in range(n):
        msg = Telemetry(
            device="pile-7",
            boot=2,
            seq=seq,
            ts=(T0 + seq * 1000) / 1000,
            model="cw-pile-10",
            ports={"current": [0.25 * seq + p for p in range(10)]},
            values={"ambient_temp": 20.0 + seq},
        )
        out += telemetry_lines(msg, "site 1")
    return out


def _export(url: str, match: str) -> list[dict[str, object]]:
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=10).close()
    query = urllib.parse.urlencode({"match[]": match})
    with urllib.request.urlopen(f"{url}/api/v1/export?{query}", timeout=10) as resp:
        return [msgspec.json.decode(raw) for raw in resp.read().splitlines() if raw.strip()]


@pytest.mark.integration
async def test_victoria_reads_back_exactly_through_export(victoria: VictoriaMetrics) -> None:
    lines = _lines(30)
    async with InfluxV2Store(victoria.url, org="cw", bucket="cw") as store:
        await store.write(lines)
        await store.write(lines[:22])  # re-sent: same timestamps, no duplicates
        exported = await asyncio.to_thread(_export, victoria.url, '{__name__="port_current",port="4"}')
        assert len(exported) == 1
        item = exported[0]
        assert item["metric"] == {
            "__name__": "port_current",
            "device": "pile-7",
            "model": "cw-pile-10",
            "port": "4",
            "site": "site 1",
        }
        # without -dedup.minScrapeInterval VictoriaMetrics keeps a re-sent sample twice in raw export;
        # the values per timestamp are identical, and the store's queries collapse them
        samples = dict(zip(item["timestamps"], item["values"], strict=True))  # type: ignore[call-overload]
        assert samples == {T0 + s * 1000: 0.25 * s + 4 for s in range(30)}
        assert await store.count("port", "current", None, T0, T0 + 60_000) == 300
        last = await store.last("pile", {"device": "pile-7"})
        assert [(r.ts, r.fields["ambient_temp"], r.fields["seq"]) for r in last] == [
            (T0 + 29_000, 49.0, 29.0)
        ]
        rows = await store.series("port", ["current"], {"port": "0"}, T0, T0 + 3000)
        assert [(r.ts, r.fields) for r in rows] == [(T0 + s * 1000, {"current": 0.25 * s}) for s in range(3)]


@pytest.mark.integration
async def test_store_ceiling_victoria(victoria: VictoriaMetrics) -> None:
    rate = await store_ceiling(f"{victoria.url}/api/v2/write?bucket=bench&precision=ms", 100_000)
    print(f"\nVictoriaMetrics /api/v2/write ceiling (5,000-point batches, 2 conns): {rate:,.0f} points/s")
    assert rate > 0


async def test_sqlite_store_reads_back_exactly_and_dead_letters_bad_lines(tmp_path: Path) -> None:
    lines = _lines(20)
    async with SQLiteStore(tmp_path / "ts.sqlite") as store:
        await store.write(lines)
        await store.write(lines[:30])
        assert await store.count("port", "current", None, T0, T0 + 60_000) == 200
        assert await store.count("port", "current", {"site": "site 1", "port": "9"}, T0, T0 + 60_000) == 20
        last = await store.last("port", {"port": "9"})
        assert [(r.ts, r.fields["current"], r.tags["site"]) for r in last] == [
            (T0 + 19_000, 0.25 * 19 + 9, "site 1")
        ]
        rows = await store.series("pile", ["ambient_temp"], None, T0 + 5000, T0 + 7000)
        assert [(r.ts, r.fields) for r in rows] == [
            (T0 + 5000, {"ambient_temp": 25.0}),
            (T0 + 6000, {"ambient_temp": 26.0}),
        ]
        bad = "pile,device=x ambient_temp= 5"
        with pytest.raises(PartialWriteError) as info:
            await store.write([line("pile", {"device": "x"}, {"ambient_temp": 1.0}, 5), bad])
        assert info.value.rejected == [(bad, "invalid number ''")]
        assert await store.count("pile", "ambient_temp", {"device": "x"}, 0, 10) == 1
    async with SQLiteStore(tmp_path / "ts.sqlite") as reopened:
        assert await reopened.count("port", "current", None, T0, T0 + 60_000) == 200

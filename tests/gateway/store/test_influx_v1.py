"""InfluxV1Store against a real InfluxDB 1.6, and its error handling against a scripted server."""

from __future__ import annotations

import pytest

from chargewatch.messages import Telemetry
from chargewatch.retry import Backoff
from gateway.lineproto import line, telemetry_lines
from gateway.store import (
    InfluxV1Store,
    PartialWriteError,
    StoreConfigError,
    StoreUnavailableError,
    store_ceiling,
)
from tests.gateway.store.fake_http import Script, scripted_server
from tests.support.servers import InfluxDB1

FAST = Backoff(initial=0.01, cap=0.02, attempts=4)
T0 = 1_750_000_000_000


def _msg(seq: int, device: str = "pile-1") -> Telemetry:
    return Telemetry(
        device=device,
        boot=1,
        seq=seq,
        ts=(T0 + seq * 1000) / 1000,
        model="cw-pile-10",
        ports={"current": [0.5 * seq + p for p in range(10)], "temp": [30.0 + p for p in range(10)]},
        values={"ambient_temp": 25.0 + seq},
    )


@pytest.mark.integration
async def test_escaping_round_trips_and_newline_never_makes_a_second_point(influxdb: InfluxDB1) -> None:
    tricky = ["a,b", "k=v", "with space", 'quo"te', 'all , = " mixed', "back\\slash"]
    lines = [line("esc", {"site": v, "n": str(i)}, {"s": v, "x": i}, T0 + i) for i, v in enumerate(tricky)]
    async with InfluxV1Store(influxdb.url, "cw") as store:
        await store.write(lines)
        rows = await store.last("esc")
        assert sorted(r.tags["site"] for r in rows) == sorted(tricky)
        assert {r.tags["site"]: r.fields["s"] for r in rows} == {v: v for v in tricky}
        assert await store.count("esc", "x", None, T0, T0 + 100) == len(tricky)
        with pytest.raises(PartialWriteError) as info:  # a raw newline sent anyway: parsed as 2 bad lines
            await store.write(["esc,site=a\nb x=1 " + str(T0 + 50)])
        assert len(info.value.rejected) == 1
        assert await store.count("esc", "x", None, T0, T0 + 100) == len(tricky)
        fields = await store.query('SHOW FIELD KEYS FROM "esc"')
        assert dict(fields[0]["values"]) == {"s": "string", "x": "float"}


@pytest.mark.integration
async def test_telemetry_reads_back_exactly_and_rewrites_are_idempotent(influxdb: InfluxDB1) -> None:
    lines = [text for seq in range(50) for text in telemetry_lines(_msg(seq), "site-1")]
    async with InfluxV1Store(influxdb.url, "cw") as store:
        await store.write(lines)
        await store.write(lines[:110])  # a re-sent batch overwrites, never duplicates
        assert await store.count("port", "current", None, T0, T0 + 60_000) == 500
        assert await store.count("pile", "ambient_temp", {"device": "pile-1"}, T0, T0 + 60_000) == 50
        last = await store.last("port", {"port": "3"})
        assert len(last) == 1
        assert last[0].ts == T0 + 49_000
        assert last[0].fields["current"] == 0.5 * 49 + 3
        assert last[0].tags == {"device": "pile-1", "model": "cw-pile-10", "port": "3", "site": "site-1"}
        series = await store.series("port", ["temp"], {"port": "2"}, T0, T0 + 10_000)
        assert [(r.ts, r.fields) for r in series] == [(T0 + s * 1000, {"temp": 32.0}) for s in range(10)]
        kinds = await store.query('SHOW FIELD KEYS FROM "port"')
        assert {t for _, t in kinds[0]["values"]} == {"float"}


@pytest.mark.integration
async def test_partial_write_dead_letters_only_the_bad_lines(influxdb: InfluxDB1) -> None:
    good = [line("pw", {"device": f"d{i}"}, {"v": float(i)}, T0 + i) for i in range(20)]
    bad_type = line("pw", {"device": "d0"}, {"v": "text"}, T0 + 500)  # field type conflict
    bad_syntax = "pw,device=dx v= " + str(T0 + 600)
    batch = [*good[:7], bad_type, *good[7:15], bad_syntax, *good[15:]]
    async with InfluxV1Store(influxdb.url, "cw") as store:
        await store.write(good[:1])
        with pytest.raises(PartialWriteError) as info:
            await store.write(batch)
        assert sorted(text for text, _ in info.value.rejected) == sorted([bad_type, bad_syntax])
        reasons = " ".join(reason for _, reason in info.value.rejected)
        assert "conflict" in reasons
        assert "parse" in reasons
        assert info.value.accepted == 20
        assert await store.count("pw", "v", None, T0, T0 + 1000) == 20


async def test_config_errors_are_not_retried() -> None:
    for status in (401, 403, 404):
        script = Script([status])
        async with scripted_server(script) as url, InfluxV1Store(url, "cw", retry=FAST) as store:
            with pytest.raises(StoreConfigError) as info:
                await store.write(["m f=1.0 1"])
            assert info.value.status == status
            assert len(script.requests) == 1


async def test_5xx_429_and_timeouts_are_retried_then_succeed() -> None:
    script = Script([503, 429, 0, 500])
    async with (
        scripted_server(script) as url,
        InfluxV1Store(url, "cw", retry=Backoff(initial=0.01, cap=0.02, attempts=6), timeout=0.3) as store,
    ):
        await store.write(["m f=1.0 1"])
    assert len(script.requests) == 5


async def test_retries_are_bounded_then_unavailable() -> None:
    script = Script([502] * 10)
    async with scripted_server(script) as url, InfluxV1Store(url, "cw", retry=FAST) as store:
        with pytest.raises(StoreUnavailableError, match="502"):
            await store.write(["m f=1.0 1"])
    assert len(script.requests) == 4


async def test_refused_connection_is_unavailable() -> None:
    async with scripted_server(Script([])) as url:
        pass
    async with InfluxV1Store(url, "cw", retry=FAST) as store:
        with pytest.raises(StoreUnavailableError):
            await store.write(["m f=1.0 1"])


@pytest.mark.integration
async def test_store_ceiling_influxdb(influxdb: InfluxDB1) -> None:
    async with InfluxV1Store(influxdb.url, "bench") as store:
        await store.create_database()
        url = f"{influxdb.url}/write?db=bench&precision=ms"
        one = await store_ceiling(url, 50_000, connections=1)
        two = await store_ceiling(url, 50_000, connections=2)
        print(f"\nInfluxDB 1.6 ceiling (5,000-point batches): {one:,.0f} points/s on 1 conn, {two:,.0f} on 2")
        assert await store.count("port", "current", None, 0, 2**62 // 1_000_000) == 50_000

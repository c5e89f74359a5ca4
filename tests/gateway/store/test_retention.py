"""The store's lifecycle: InfluxDB 1.x policies and continuous query, typed unknown-series errors,
and an old database (float ``state`` in ``autogen``) taking the new layout without a conflict."""

from __future__ import annotations

import time

import pytest

from gateway.store import InfluxV1Store, Retention, UnknownSeriesError
from gateway.store.retention import downsample_query
from tests.support.servers import InfluxDB1

pytestmark = pytest.mark.integration

NOW_MS = int(time.time()) // 60 * 60_000


async def _policies(store: InfluxV1Store) -> dict[str, tuple[str, bool]]:
    series = await store.query('SHOW RETENTION POLICIES ON "cw"')
    return {row[0]: (row[1], row[4]) for item in series for row in item["values"]}


async def _cqs(store: InfluxV1Store) -> dict[str, str]:
    series = await store.query("SHOW CONTINUOUS QUERIES")
    return {row[0]: row[1] for item in series if item["name"] == "cw" for row in item.get("values") or []}


async def test_policies_and_downsampling_query_are_created_updated_and_idempotent(
    influxdb: InfluxDB1,
) -> None:
    async with InfluxV1Store(influxdb.url, "cw", retention=Retention(30, 400, 60)) as store:
        assert await _policies(store) == {
            "autogen": ("0s", False),
            "raw": ("720h0m0s", True),
            "long": ("9600h0m0s", False),
        }
        cqs = await _cqs(store)
        assert list(cqs) == ["cw_downsample_60s"]
        assert "INTO cw.long.:MEASUREMENT FROM cw.raw./^(port|pile|blocker)$/" in cqs["cw_downsample_60s"]
    async with InfluxV1Store(influxdb.url, "cw", retention=Retention(30, 400, 60)) as store:
        assert list(await _cqs(store)) == ["cw_downsample_60s"]  # entering again changes nothing
    async with InfluxV1Store(influxdb.url, "cw", retention=Retention(7, 365, 300)) as store:
        policies = await _policies(store)
        assert policies["raw"] == ("168h0m0s", True)
        assert policies["long"] == ("8760h0m0s", False)
        assert list(await _cqs(store)) == ["cw_downsample_300s"]
    async with InfluxV1Store(influxdb.url, "cw", retention=Retention(7, 0, 300)) as store:
        assert await _cqs(store) == {}
        assert "long" in await _policies(store), "existing aggregates are never dropped by config"


async def test_the_downsampling_query_folds_ports_into_mean_and_max(influxdb: InfluxDB1) -> None:
    r = Retention(30, 400, 60)
    async with InfluxV1Store(influxdb.url, "cw", retention=r) as store:
        t0 = NOW_MS - 10 * 60_000
        await store.write(
            [
                f'port,device=p1,port=0 voltage={230 + i % 3}.5,state={i % 2}i,flags="x:y" {t0 + i * 10_000}'
                for i in range(12)  # two minutes at one sample per 10 s
            ]
        )
        select = downsample_query("cw", r).split(" BEGIN ", 1)[1].removesuffix(" END")
        grouped = select.replace(" GROUP BY", f" WHERE time >= {t0}ms AND time < {t0 + 120_000}ms GROUP BY")
        await store.execute(grouped)
        rows = await store.query('SELECT * FROM "cw"."long"."port"')
        columns = rows[0]["columns"]
        assert columns == ["time", "device", "max_state", "max_voltage", "mean_state", "mean_voltage", "port"]
        values = [dict(zip(columns, v, strict=True)) for v in rows[0]["values"]]
        assert [v["time"] for v in values] == [t0, t0 + 60_000]
        assert values[0]["mean_voltage"] == pytest.approx((230.5 + 231.5 + 232.5) * 2 / 6)
        assert values[0]["max_voltage"] == 232.5
        assert values[0]["max_state"] == 1
        assert values[0]["mean_state"] == 0.5


async def test_an_old_float_state_database_takes_integer_state_in_the_new_policy(
    influxdb: InfluxDB1,
) -> None:
    old = f"port,device=p1,port=0 state=1 {NOW_MS - 120_000}"
    async with InfluxV1Store(influxdb.url, "cw") as store:  # an earlier gateway: autogen, float state
        await store.write([old])
    async with InfluxV1Store(influxdb.url, "cw", retention=Retention(30, 400, 300)) as store:
        await store.write([f"port,device=p1,port=0 state=2i {NOW_MS - 60_000}"])  # no type conflict
        assert await store.count("port", "state", None, NOW_MS - 600_000, NOW_MS) == 1  # the raw policy
        autogen = await store.query('SELECT state FROM "cw"."autogen"."port"')
        assert autogen[0]["values"] == [[NOW_MS - 120_000, 1.0]]


async def test_series_of_an_unknown_field_or_measurement_is_a_typed_error(influxdb: InfluxDB1) -> None:
    async with InfluxV1Store(influxdb.url, "cw", retention=Retention(30, 400, 300)) as store:
        assert await store.series("alert", ["state"], None, 0, NOW_MS) == []  # no data yet: empty
        with pytest.raises(UnknownSeriesError, match="unknown measurement 'ports'"):
            await store.series("ports", ["voltage"], None, 0, NOW_MS)
        await store.write([f"port,device=p1,port=0 voltage=230.5 {NOW_MS - 1000}"])
        with pytest.raises(
            UnknownSeriesError, match="unknown field 'volts' of 'port'; known: voltage"
        ) as info:
            await store.series("port", ["volts"], {"device": "p1"}, 0, NOW_MS)
        assert (info.value.measurement, info.value.field) == ("port", "volts")
        rows = await store.series("port", ["voltage"], {"device": "p1"}, 0, NOW_MS)
        assert [r.fields for r in rows] == [{"voltage": 230.5}]

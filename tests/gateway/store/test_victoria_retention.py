"""VictoriaMetrics keeps ``-retentionPeriod`` of data (the fixture starts it with the flag); the
store reads it back, warns when it is shorter than ``raw_days``, and names unknown fields."""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.request

import pytest

from gateway.store import InfluxV2Store, Retention, UnknownSeriesError
from gateway.store.influx_v2 import period_days
from tests.support.servers import VictoriaMetrics

NOW_MS = int(time.time()) // 60 * 60_000


def _flush(url: str) -> None:
    urllib.request.urlopen(f"{url}/internal/force_flush", timeout=10).close()


def test_retention_periods_in_days() -> None:
    assert [period_days(p) for p in ("45d", "2w", "1y", "12h", "3", "")] == [45, 14, 365, 0.5, 93, 31]
    with pytest.raises(ValueError, match="not a number"):
        period_days("forever")


@pytest.mark.integration
async def test_the_server_retention_is_read_back_and_a_short_one_is_a_warning(
    victoria: VictoriaMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.store")
    days = VictoriaMetrics.RETENTION_DAYS
    async with InfluxV2Store(victoria.url, org="o", bucket="b", retention=Retention(days, 0, 300)) as store:
        assert await store.retention_period() == f"{days}d"
    assert "store_retention " in caplog.text
    assert "store_retention_short" not in caplog.text
    async with InfluxV2Store(victoria.url, org="o", bucket="b", retention=Retention(days + 1, 0, 300)):
        pass
    assert "store_retention_short" in caplog.text
    assert f"-retentionPeriod={days + 1}d" in caplog.text


@pytest.mark.integration
async def test_series_of_an_unknown_field_is_a_typed_error(victoria: VictoriaMetrics) -> None:
    async with InfluxV2Store(victoria.url, org="o", bucket="b") as store:
        assert await store.series("port", ["voltage"], None, NOW_MS - 60_000, NOW_MS) == []
        await store.write([f"port,device=p1,port=0 voltage=230.5,state=1i {NOW_MS - 5000}"])
        await asyncio.to_thread(_flush, victoria.url)
        with pytest.raises(UnknownSeriesError, match="field 'volts' of 'port'; known: state, voltage"):
            await store.series("port", ["volts"], None, NOW_MS - 60_000, NOW_MS)
        rows = await store.series("port", ["voltage", "state"], None, NOW_MS - 60_000, NOW_MS)
        assert [r.fields for r in rows] == [{"voltage": 230.5, "state": 1.0}]

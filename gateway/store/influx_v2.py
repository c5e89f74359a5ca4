"""``/api/v2/write`` store through influxdb-client's SYNCHRONOUS write API (InfluxDB 2.x/3.x,
VictoriaMetrics). The batching writer is not used: it drops a batch after its retries.

influxdb-client is blocking (urllib3); each write runs in a worker thread under the client's
own request timeout plus ``asyncio.timeout``. 429/5xx/timeouts are retried with
:class:`chargewatch.retry.Backoff`; a 400 is bisected like the v1 store's.

Queries: VictoriaMetrics stores ``measurement,tags field=v`` as the metric
``measurement_field`` with the tags as labels (numbers only; string fields are dropped), and
:meth:`InfluxV2Store.last`/``series``/``count`` read them back through its
``/api/v1/export`` API; ``series`` raises :class:`~gateway.store.errors.UnknownSeriesError`
for a field VictoriaMetrics holds no metric of. For InfluxDB 2.x/3.x queries, use
:class:`InfluxV1Store` on the server's v1-compatible ``/query`` endpoint.

Retention is the server's: VictoriaMetrics keeps ``-retentionPeriod`` of data;
:meth:`InfluxV2Store.retention_period` reads it back (``/flags``) for the gateway's log.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlencode

import msgspec
import urllib3.exceptions
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from chargewatch.logs import kv
from chargewatch.retry import Backoff, retry_async
from gateway.store._http import HttpPool
from gateway.store.base import Row, check_known, write_or_bisect
from gateway.store.errors import (
    StoreConfigError,
    StoreQueryError,
    StoreUnavailableError,
)
from gateway.store.influx_v1 import DEFAULT_RETRY
from gateway.store.retention import Retention

log = logging.getLogger(__name__)
_MS = cast(WritePrecision, WritePrecision.MS)  # the stubs type the constant as str


class _Export(msgspec.Struct):
    metric: dict[str, str]
    values: list[float]
    timestamps: list[int]


_UNIT_DAYS = {"h": 1 / 24, "d": 1.0, "w": 7.0, "y": 365.0}


def period_days(period: str) -> float:
    """Days of a VictoriaMetrics ``-retentionPeriod`` (``45d``, ``2w``, ``1y``, ``12h``; a bare
    number counts months; '' is the default, one month)."""
    text = period.strip() or "1"
    unit = _UNIT_DAYS.get(text[-1])
    try:
        return float(text[:-1]) * unit if unit is not None else float(text) * 31
    except ValueError as exc:
        raise ValueError(f"retention period {period!r} is not a number with h/d/w/y") from exc


def _label_re(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class InfluxV2Store:
    """Async context manager; one instance per (server, org, bucket)."""

    def __init__(
        self,
        url: str,
        *,
        org: str,
        bucket: str,
        token: str = "",
        timeout: float = 10.0,
        retry: Backoff = DEFAULT_RETRY,
        retention: Retention | None = None,
    ) -> None:
        self.name = f"influxdb-v2 {url} bucket={bucket}"
        self.retention = retention
        self.org = org
        self.bucket = bucket
        self._timeout = timeout
        self._retry = retry
        self._client = InfluxDBClient(
            url=url, token=token or "-", org=org, timeout=int(timeout * 1000), retries=False
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._http = HttpPool(url, connections=1, timeout=timeout)

    async def __aenter__(self) -> InfluxV2Store:
        if self.retention is not None:
            await self._log_retention(self.retention)
        return self

    async def _log_retention(self, r: Retention) -> None:
        """Say how long the server keeps data; warn when it is shorter than ``raw_days``."""
        try:
            period = await self.retention_period()
        except (StoreQueryError, StoreUnavailableError) as exc:
            log.warning(kv("store_retention_unknown", store=self.name, error=exc))
            return
        days = period_days(period)
        if days < r.raw_days:
            log.warning(
                kv(
                    "store_retention_short",
                    store=self.name,
                    server_retention=period or "1 (month, the default)",
                    raw_days=r.raw_days,
                    fix=f"start VictoriaMetrics with -retentionPeriod={r.raw_days}d",
                )
            )
        else:
            log.info(kv("store_retention", store=self.name, server_retention=period, raw_days=r.raw_days))

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await asyncio.to_thread(self._client.close)

    async def write(self, lines: Sequence[str]) -> None:
        await write_or_bisect(self.name, self._send, lines)

    async def _send(self, lines: Sequence[str]) -> str | None:
        body = "\n".join(lines)
        return await retry_async(lambda: self._post(body), (StoreUnavailableError,), self._retry)

    def _blocking_write(self, body: str) -> None:
        self._write_api.write(bucket=self.bucket, org=self.org, record=body, write_precision=_MS)

    async def _post(self, body: str) -> str | None:
        try:
            async with asyncio.timeout(self._timeout + 1.0):
                await asyncio.to_thread(self._blocking_write, body)
        except ApiException as exc:
            status = int(exc.status or 0)
            text = str(exc.body or exc.reason)[:300]
            if status == 400:
                return text
            if status in {401, 403, 404}:
                raise StoreConfigError(self.name, f"write: HTTP {status} {text}", status) from exc
            if status == 429 or status >= 500:
                raise StoreUnavailableError(self.name, f"write: HTTP {status} {text}") from exc
            raise StoreConfigError(self.name, f"write: unexpected HTTP {status} {text}", status) from exc
        except (TimeoutError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailableError(self.name, f"write: {exc!r}") from exc
        return None

    async def _export(self, match: str, start_ms: int | None, end_ms: int | None) -> list[_Export]:
        params: dict[str, Any] = {"match[]": match}
        if start_ms is not None:
            params["start"] = f"{start_ms / 1000:.3f}"
        if end_ms is not None:
            params["end"] = f"{(end_ms - 1) / 1000:.3f}"
        resp = await self._http.request("GET", "/api/v1/export?" + urlencode(params))
        if resp.status != 200:
            raise StoreQueryError(self.name, f"export {match!r}: HTTP {resp.status} {resp.body[:200]!r}")
        return [msgspec.json.decode(raw, type=_Export) for raw in resp.body.splitlines() if raw.strip()]

    def _selector(
        self, measurement: str, fields: Sequence[str] | None, where: Mapping[str, str] | None
    ) -> str:
        if fields is None:
            name = f"__name__=~{_label_re(re.escape(measurement) + '_.+')}"
        else:
            name = f"__name__=~{_label_re('|'.join(re.escape(f'{measurement}_{f}') for f in fields))}"
        labels = [name] + [f"{k}={_label_re(v)}" for k, v in sorted((where or {}).items())]
        return "{" + ",".join(labels) + "}"

    async def _rows(
        self,
        measurement: str,
        fields: Sequence[str] | None,
        where: Mapping[str, str] | None,
        start_ms: int | None,
        end_ms: int | None,
    ) -> dict[tuple[tuple[str, str], ...], dict[int, dict[str, float]]]:
        prefix = measurement + "_"
        out: dict[tuple[tuple[str, str], ...], dict[int, dict[str, float]]] = {}
        for item in await self._export(self._selector(measurement, fields, where), start_ms, end_ms):
            field = item.metric.get("__name__", "").removeprefix(prefix)
            key = tuple(sorted((k, v) for k, v in item.metric.items() if k not in {"__name__", "db"}))
            points = out.setdefault(key, {})
            for ts, value in zip(item.timestamps, item.values, strict=True):
                points.setdefault(ts, {})[field] = float(value)
        return out

    async def last(self, measurement: str, where: Mapping[str, str] | None = None) -> list[Row]:
        rows = []
        for key, points in sorted((await self._rows(measurement, None, where, None, None)).items()):
            ts = max(points)
            rows.append(Row(ts, dict(key), dict(points[ts])))
        return rows

    async def series(
        self,
        measurement: str,
        fields: Sequence[str],
        where: Mapping[str, str] | None,
        start_ms: int,
        end_ms: int,
    ) -> list[Row]:
        await self._check_fields(measurement, fields)
        data = await self._rows(measurement, fields, where, start_ms, end_ms)
        rows = [Row(ts, dict(key), dict(f)) for key, pts in data.items() for ts, f in pts.items()]
        rows.sort(key=lambda r: (r.ts, sorted(r.tags.items())))
        return rows

    async def _get(self, target: str) -> bytes:
        resp = await self._http.request("GET", target)
        if resp.status != 200:
            raise StoreQueryError(self.name, f"GET {target[:120]}: HTTP {resp.status} {resp.body[:200]!r}")
        return resp.body

    async def _check_fields(self, measurement: str, fields: Sequence[str]) -> None:
        """UnknownSeriesError unless every ``measurement_field`` metric exists (or none of the
        measurement does yet)."""
        match = "{" + f"__name__=~{_label_re(re.escape(measurement) + '_.+')}" + "}"
        body = await self._get("/api/v1/label/__name__/values?" + urlencode({"match[]": match}))
        names = msgspec.json.decode(body, type=dict[str, Any]).get("data") or []
        prefix = measurement + "_"
        check_known(self.name, measurement, fields, {n.removeprefix(prefix) for n in names})

    async def retention_period(self) -> str:
        """The server's ``-retentionPeriod`` (VictoriaMetrics ``/flags``; '' when not listed,
        i.e. its default of one month)."""
        for text in (await self._get("/flags")).decode(errors="replace").splitlines():
            name, _, value = text.strip().partition("=")
            if name == "-retentionPeriod":
                return value.strip('"')
        return ""

    async def count(
        self, measurement: str, field: str, where: Mapping[str, str] | None, start_ms: int, end_ms: int
    ) -> int:
        data = await self._rows(measurement, [field], where, start_ms, end_ms)
        return sum(len(points) for points in data.values())

"""``/api/v2/write`` store through influxdb-client's SYNCHRONOUS write API (InfluxDB 2.x/3.x,
VictoriaMetrics). The batching writer is not used: it drops a batch after its retries.

influxdb-client is blocking (urllib3); each write runs in a worker thread under the client's
own request timeout plus ``asyncio.timeout``. 429/5xx/timeouts are retried with
:class:`chargewatch.retry.Backoff`; a 400 is bisected like the v1 store's.

Queries: VictoriaMetrics stores ``measurement,tags field=v`` as the metric
``measurement_field`` with the tags as labels, numbers only. The string and boolean fields of
the text measurements (``command``, ``alert``, ``session``, ``event``) are therefore written as
labels of a ``measurement__text`` marker point (:mod:`gateway.store._vmtext`: escaping, the
label-size cut, counted in ``cw_store_text_truncated_total``); telemetry lines are written as
they are (their ``flags`` text is not kept). :meth:`InfluxV2Store.last`/``series``/``count``
read the metrics back through the ``/api/v1/export`` API and turn marker labels back into
fields, so callers get what InfluxDB and SQLite give; ``series`` raises
:class:`~gateway.store.errors.UnknownSeriesError` for a field VictoriaMetrics holds no metric
or text label of in the queried range. For InfluxDB 2.x/3.x queries, use
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
from gateway.metrics import Metrics
from gateway.store._http import HttpPool
from gateway.store._vmtext import (
    MARKER,
    MAX_LABEL_VALUE_LEN,
    TEXT_MEASUREMENTS,
    TextLineError,
    read_label,
    translate,
)
from gateway.store.base import Field, Row, check_known, write_or_bisect
from gateway.store.errors import (
    PartialWriteError,
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


def _pick(points: dict[int, dict[str, Field]], wanted: set[str]) -> dict[int, dict[str, Field]]:
    """The points holding any of ``wanted``, with only those fields."""
    picked = {ts: {k: v for k, v in f.items() if k in wanted} for ts, f in points.items()}
    return {ts: f for ts, f in picked.items() if f}


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
        max_label_value_len: int = MAX_LABEL_VALUE_LEN,
        metrics: Metrics | None = None,
    ) -> None:
        self.name = f"influxdb-v2 {url} bucket={bucket}"
        self._max_label_value_len = max_label_value_len
        self._metrics = metrics
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
        """Write ``lines``, text fields of :data:`TEXT_MEASUREMENTS` as marker labels (see
        :mod:`gateway.store._vmtext`); a line that cannot carry them is listed as rejected."""
        sendable: list[str] = []
        wire: dict[str, str] = {}
        refused: list[tuple[str, str]] = []
        cuts: list[tuple[str, str]] = []
        for text in lines:
            try:
                sent = translate(text, self._max_label_value_len)
            except TextLineError as exc:
                refused.append((text, exc.reason))
                continue
            sendable.append(text)
            if sent.text is not text:
                wire[text] = sent.text
                cuts += [(text, name) for name in sent.truncated]
        try:
            await write_or_bisect(
                self.name, lambda part: self._send([wire.get(t, t) for t in part]), sendable
            )
        except PartialWriteError as exc:
            self._count_cuts(cuts, {t for t, _ in exc.rejected})
            raise PartialWriteError(self.name, [*refused, *exc.rejected], exc.accepted) from exc
        self._count_cuts(cuts, set())
        if refused:
            log.warning(kv("store_lines_rejected", store=self.name, rejected=len(refused)))
            raise PartialWriteError(self.name, refused, len(sendable))

    def _count_cuts(self, cuts: list[tuple[str, str]], rejected: set[str]) -> None:
        """Log and count every text value cut to the label limit in a stored line."""
        for text, name in cuts:
            if text in rejected:
                continue
            measurement = text.partition(",")[0]
            log.warning(
                kv(
                    "store_text_truncated",
                    store=self.name,
                    measurement=measurement,
                    field=name,
                    limit=self._max_label_value_len,
                    fix="raise VictoriaMetrics' -maxLabelValueLen and store.max_label_value_len",
                )
            )
            if self._metrics is not None:
                self._metrics.inc("cw_store_text_truncated_total", measurement=measurement)

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
    ) -> dict[tuple[tuple[str, str], ...], dict[int, dict[str, Field]]]:
        """Points by tag set and ts; a text measurement's marker labels become its fields."""
        text = measurement in TEXT_MEASUREMENTS
        prefix = measurement + "_"
        out: dict[tuple[tuple[str, str], ...], dict[int, dict[str, Field]]] = {}
        selector = self._selector(measurement, None if text else fields, where)
        for item in await self._export(selector, start_ms, end_ms):
            field = item.metric.get("__name__", "").removeprefix(prefix)
            marker = text and field == MARKER
            tags: dict[str, str] = {}
            texts: dict[str, Field] = {}
            for k, v in item.metric.items():
                got = read_label(k, v) if marker else None
                if got is not None:
                    texts[got[0]] = got[1]
                elif k not in {"__name__", "db"}:
                    tags[k] = v
            points = out.setdefault(tuple(sorted(tags.items())), {})
            for ts, value in zip(item.timestamps, item.values, strict=True):
                point = points.setdefault(ts, {})
                if marker:
                    point.update(texts)
                else:
                    point[field] = float(value)
        if text and fields is not None:
            out = {key: _pick(points, set(fields)) for key, points in out.items()}
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
        await self._check_fields(measurement, fields, start_ms, end_ms)
        data = await self._rows(measurement, fields, where, start_ms, end_ms)
        rows = [Row(ts, dict(key), dict(f)) for key, pts in data.items() for ts, f in pts.items()]
        rows.sort(key=lambda r: (r.ts, sorted(r.tags.items())))
        return rows

    async def _get(self, target: str) -> bytes:
        resp = await self._http.request("GET", target)
        if resp.status != 200:
            raise StoreQueryError(self.name, f"GET {target[:120]}: HTTP {resp.status} {resp.body[:200]!r}")
        return resp.body

    async def _check_fields(
        self, measurement: str, fields: Sequence[str], start_ms: int, end_ms: int
    ) -> None:
        """UnknownSeriesError unless every ``measurement_field`` metric (or marker label of a
        text field) exists in the range (or none of the measurement does)."""
        span = {"start": f"{start_ms / 1000:.3f}", "end": f"{max(start_ms, end_ms - 1) / 1000:.3f}"}
        match = "{" + f"__name__=~{_label_re(re.escape(measurement) + '_.+')}" + "}"
        query = urlencode({"match[]": match, **span})
        names = set(await self._data("/api/v1/label/__name__/values?" + query))
        prefix = measurement + "_"
        known = {n.removeprefix(prefix) for n in names}
        if measurement + "_" + MARKER in names:
            marker = "{" + f"__name__={_label_re(measurement + '_' + MARKER)}" + "}"
            labels = await self._data("/api/v1/labels?" + urlencode({"match[]": marker, **span}))
            known |= {got[0] for got in (read_label(k, "") for k in labels) if got is not None}
        check_known(self.name, measurement, fields, known - {MARKER})

    async def _data(self, target: str) -> list[str]:
        """The ``data`` list of a VictoriaMetrics label API answer."""
        return list(msgspec.json.decode(await self._get(target), type=dict[str, Any]).get("data") or [])

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

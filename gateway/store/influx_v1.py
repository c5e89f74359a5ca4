"""InfluxDB v1 HTTP API store: ``/write`` (line protocol, ms) and ``/query`` (InfluxQL).

Also fits InfluxDB 2.x/3.x through their v1-compatibility endpoints. The database is created
on the first 404 "database not found". 429, 5xx, timeouts and refused connections are retried
with :class:`chargewatch.retry.Backoff`; InfluxDB 1.x answers 400 "partial write" *after*
storing the good lines, so a 400 is bisected to name the bad lines.

With a :class:`~gateway.store.retention.Retention`, entering the store applies it (retention
policies and the downsampling continuous query, idempotently); if the server refuses or is
down, the first write applies it before writing, raising the same errors a write would.
:meth:`InfluxV1Store.series` raises :class:`~gateway.store.errors.UnknownSeriesError` for a
measurement or field the database does not hold (a measurement of the gateway's layout
with no data yet is just empty).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import msgspec

from chargewatch.logs import kv
from chargewatch.retry import Backoff, retry_async
from gateway.store._http import HttpPool, Response
from gateway.store.base import Row, check_known, influxql_ident, influxql_string, write_or_bisect
from gateway.store.errors import (
    StoreConfigError,
    StoreQueryError,
    StoreUnavailableError,
)
from gateway.store.retention import (
    CQ_PREFIX,
    LONG_RP,
    RAW_RP,
    Retention,
    downsample_query,
    policy_statement,
)

log = logging.getLogger(__name__)

DEFAULT_RETRY = Backoff(initial=0.2, cap=2.0, attempts=4, timeout=20.0)


class _QueryResult(msgspec.Struct):
    results: list[dict[str, Any]] = msgspec.field(default_factory=list)
    error: str = ""


def _error_text(resp: Response) -> str:
    try:
        return str(msgspec.json.decode(resp.body).get("error", resp.body[:300]))
    except msgspec.DecodeError:
        return resp.body[:300].decode(errors="replace")


def where_clause(
    where: Mapping[str, str] | None, start_ms: int | None = None, end_ms: int | None = None
) -> str:
    """``WHERE`` for tag equality and a ``[start, end)`` time range, or empty."""
    terms = [f"{influxql_ident(k)} = {influxql_string(v)}" for k, v in sorted((where or {}).items())]
    if start_ms is not None:
        terms.append(f"time >= {int(start_ms)}ms")
    if end_ms is not None:
        terms.append(f"time < {int(end_ms)}ms")
    return " WHERE " + " AND ".join(terms) if terms else ""


def rows_of(series: list[dict[str, Any]]) -> list[Row]:
    """Rows from InfluxQL JSON series (``epoch=ms``), null columns dropped."""
    rows: list[Row] = []
    for item in series:
        tags = {k: v for k, v in (item.get("tags") or {}).items() if v != ""}
        columns: list[str] = item["columns"]
        for values in item.get("values") or []:
            fields = {c: v for c, v in zip(columns[1:], values[1:], strict=True) if v is not None}
            rows.append(Row(int(values[0]), tags, fields))
    return rows


class InfluxV1Store:
    """Async context manager; one instance per (server, database)."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        connections: int = 2,
        retry: Backoff = DEFAULT_RETRY,
        retention: Retention | None = None,
    ) -> None:
        self._http = HttpPool(url, connections=connections, timeout=timeout)
        self.retention = retention
        self._retention_applied = False
        self.name = f"influxdb-v1 {self._http.origin} db={database}"
        self.database = database
        self._retry = retry
        self._headers: dict[str, str] = {}
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._write_target = "/write?" + urlencode({"db": database, "precision": "ms"})

    async def __aenter__(self) -> InfluxV1Store:
        try:
            await self._ensure_retention()
        except (StoreConfigError, StoreUnavailableError) as exc:
            # the first write tries again and raises it, so the spool keeps the data and alerts
            log.warning(kv("store_retention_pending", store=self.name, error=exc))
        return self

    async def _ensure_retention(self) -> None:
        """Apply the retention once, before anything is written into the wrong policy."""
        if self.retention is not None and not self._retention_applied:
            await self.apply_retention(self.retention)
            self._retention_applied = True

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def write(self, lines: Sequence[str]) -> None:
        await self._ensure_retention()
        await write_or_bisect(self.name, self._send, lines)

    async def _send(self, lines: Sequence[str]) -> str | None:
        body = "\n".join(lines).encode()
        return await retry_async(lambda: self._post_write(body), (StoreUnavailableError,), self._retry)

    async def _post_write(self, body: bytes) -> str | None:
        resp = await self._http.request("POST", self._write_target, body, self._headers)
        if resp.status == 204:
            return None
        if resp.status == 404 and "database not found" in _error_text(resp):
            await self.create_database()
            resp = await self._http.request("POST", self._write_target, body, self._headers)
            if resp.status == 204:
                return None
        if resp.status == 400:
            return _error_text(resp)
        raise self._status_error(resp, "write")

    def _status_error(self, resp: Response, what: str) -> StoreUnavailableError | StoreConfigError:
        text = _error_text(resp)
        if resp.status in {401, 403, 404}:
            return StoreConfigError(self.name, f"{what}: HTTP {resp.status} {text}", resp.status)
        if resp.status == 429 or resp.status >= 500:
            return StoreUnavailableError(self.name, f"{what}: HTTP {resp.status} {text}")
        return StoreConfigError(self.name, f"{what}: unexpected HTTP {resp.status} {text}", resp.status)

    async def create_database(self) -> None:
        """``CREATE DATABASE`` (a no-op when it exists)."""
        q = urlencode({"q": f"CREATE DATABASE {influxql_ident(self.database)}"})
        resp = await self._http.request("POST", "/query?" + q, b"", self._headers)
        if resp.status != 200:
            raise self._status_error(resp, "create database")
        log.info(kv("store_database_created", store=self.name))

    async def execute(self, statement: str) -> None:
        """Run one InfluxQL statement that changes the database (POST); raise on its error."""
        resp = await self._http.request(
            "POST", "/query?" + urlencode({"db": self.database, "q": statement}), b"", self._headers
        )
        if resp.status == 429 or resp.status >= 500:
            raise self._status_error(resp, "query")
        result = msgspec.json.decode(resp.body, type=_QueryResult) if resp.body else _QueryResult()
        first = result.results[0] if result.results else {}
        error = result.error or first.get("error", "")
        if resp.status != 200 or error:
            raise StoreConfigError(
                self.name,
                f"{error or resp.status} in {statement[:200]!r}. Fix: grant the gateway's user admin "
                "rights on the database, or set store.retention.manage: false and set retention up "
                "on the server",
                resp.status,
            )

    async def apply_retention(self, r: Retention) -> None:
        """Create or update the ``raw`` (default) and ``long`` policies and the downsampling
        continuous query; drop a downsampling query of another bucket size. Idempotent."""
        await self.create_database()
        db = self.database
        policies = {
            row[0]: row
            for item in await self.query(f"SHOW RETENTION POLICIES ON {influxql_ident(db)}")
            for row in item.get("values") or []
        }
        await self.execute(policy_statement(db, RAW_RP, r.raw_days, RAW_RP in policies, default=True))
        if r.downsampled_days:
            exists = LONG_RP in policies
            await self.execute(policy_statement(db, LONG_RP, r.downsampled_days, exists, default=False))
        ours: set[str] = set()
        for item in await self.query("SHOW CONTINUOUS QUERIES"):
            if item.get("name") == db:
                ours |= {row[0] for row in item.get("values") or [] if row[0].startswith(CQ_PREFIX)}
        for name in sorted(ours - ({r.cq_name} if r.downsampled_days else set())):
            await self.execute(f"DROP CONTINUOUS QUERY {influxql_ident(name)} ON {influxql_ident(db)}")
        if r.downsampled_days and r.cq_name not in ours:
            await self.execute(downsample_query(db, r))
        log.info(
            kv(
                "store_retention_applied",
                store=self.name,
                raw_days=r.raw_days,
                downsampled_days=r.downsampled_days,
                downsample_s=r.downsample_s,
            )
        )

    async def query(self, influxql: str) -> list[dict[str, Any]]:
        """Run one InfluxQL statement; its ``series`` list (times in ms)."""
        target = "/query?" + urlencode({"db": self.database, "epoch": "ms", "q": influxql})

        async def once() -> Response:
            resp = await self._http.request("GET", target, b"", self._headers)
            if resp.status == 429 or resp.status >= 500:
                raise self._status_error(resp, "query")
            return resp

        resp = await retry_async(once, (StoreUnavailableError,), self._retry)
        if resp.status in {401, 403}:
            raise self._status_error(resp, "query")
        result = msgspec.json.decode(resp.body, type=_QueryResult) if resp.body else _QueryResult()
        first = result.results[0] if result.results else {}
        error = result.error or first.get("error", "")
        if resp.status != 200 or error:
            if "database not found" in str(error):
                return []
            raise StoreQueryError(self.name, f"{error or resp.status} in {influxql[:200]!r}")
        return list(first.get("series") or [])

    async def last(self, measurement: str, where: Mapping[str, str] | None = None) -> list[Row]:
        q = f"SELECT * FROM {influxql_ident(measurement)}{where_clause(where)}"
        q += " GROUP BY * ORDER BY time DESC LIMIT 1"
        return rows_of(await self.query(q))

    async def series(
        self,
        measurement: str,
        fields: Sequence[str],
        where: Mapping[str, str] | None,
        start_ms: int,
        end_ms: int,
    ) -> list[Row]:
        await self._check_fields(measurement, fields)
        cols = ",".join(influxql_ident(f) for f in fields)
        q = f"SELECT {cols} FROM {influxql_ident(measurement)}{where_clause(where, start_ms, end_ms)}"
        q += " GROUP BY *"
        rows = rows_of(await self.query(q))
        rows.sort(key=lambda r: r.ts)
        return rows

    async def _check_fields(self, measurement: str, fields: Sequence[str]) -> None:
        """UnknownSeriesError unless ``measurement`` and ``fields`` exist (or may, not having data yet)."""
        keys = await self.query(f"SHOW FIELD KEYS FROM {influxql_ident(measurement)}")
        known = {row[0] for item in keys for row in item.get("values") or []}
        check_known(self.name, measurement, fields, known)

    async def count(
        self, measurement: str, field: str, where: Mapping[str, str] | None, start_ms: int, end_ms: int
    ) -> int:
        q = (
            f"SELECT count({influxql_ident(field)}) FROM {influxql_ident(measurement)}"
            f"{where_clause(where, start_ms, end_ms)}"
        )
        series = await self.query(q)
        return sum(int(values[1]) for item in series for values in item.get("values") or [])

"""Embedded SQLite store for the demo and single-box installs, behind the same interface.

It takes the same line protocol as InfluxDB (parsed by :mod:`gateway.store._lineparse`) and
keeps InfluxDB's semantics: a point is (measurement, tag set, ts); writing the same point again
merges its fields, so re-sent batches never duplicate. All SQLite work runs on one worker
thread that owns the connection (WAL, ``synchronous=NORMAL``).

With a :class:`~gateway.store.retention.Retention` the store runs its lifecycle pass
(:mod:`gateway.store._sqlite_retention`: rollups, then pruning) at start and every
``maintain_every_s`` on that thread, timed by the injected clock; tests call :meth:`maintain`.
The ``field_keys`` table records every (measurement, field) written, so :meth:`series` raises
:class:`~gateway.store.errors.UnknownSeriesError` for a field the store never held.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from chargewatch.clock import Clock, SystemClock
from chargewatch.logs import kv
from gateway.store._lineparse import LineParseError, parse_line
from gateway.store._sqlite_retention import BACKFILL_KEYS, Pass, maintain
from gateway.store._sqlite_retention import SCHEMA as LIFECYCLE_SCHEMA
from gateway.store.base import Field, Row, check_known
from gateway.store.errors import PartialWriteError, StoreConfigError, StoreError
from gateway.store.retention import Retention

log = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    measurement TEXT NOT NULL,
    series TEXT NOT NULL,
    ts INTEGER NOT NULL,
    tags TEXT NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (measurement, series, ts)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_by_time ON points (measurement, ts);
"""
_UPSERT = (
    "INSERT INTO points VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO UPDATE SET fields = json_patch(fields, excluded.fields)"
)


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _filter(
    measurement: str, where: Mapping[str, str] | None, start_ms: int | None = None, end_ms: int | None = None
) -> tuple[str, list[object]]:
    sql = "measurement = ?"
    args: list[object] = [measurement]
    for key, value in sorted((where or {}).items()):
        sql += " AND json_extract(tags, ?) = ?"
        args += [_json_path(key), value]
    if start_ms is not None:
        sql += " AND ts >= ?"
        args.append(int(start_ms))
    if end_ms is not None:
        sql += " AND ts < ?"
        args.append(int(end_ms))
    return sql, args


class SQLiteStore:
    """Async context manager over one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        retention: Retention | None = None,
        clock: Clock | None = None,
        maintain_every_s: float = 600.0,
    ) -> None:
        self.path = Path(path)
        self.name = f"sqlite {self.path}"
        self.retention = retention
        self._clock = clock or SystemClock()
        self._every = maintain_every_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._db: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SQLiteStore:
        await self._run(self._open)
        if self.retention is not None:
            self._task = asyncio.create_task(self._maintain_loop(), name="sqlite-store-retention")
        return self

    async def maintain(self) -> Pass:
        """One lifecycle pass now (by the store's clock), on the worker thread."""
        if self.retention is None:
            raise StoreError(self.name, "maintain() needs a retention (store.retention)")
        r, now = self.retention, self._clock.time()

        def run() -> Pass:
            try:
                return maintain(self._conn(), r, now)
            except sqlite3.Error as exc:
                raise StoreError(self.name, f"retention pass failed: {exc}") from exc

        done = await self._run(run)
        log.info(
            kv(
                "store_retention_pass",
                store=self.name,
                rollups=done.rollups,
                pruned_points=done.pruned_points,
                pruned_rollups=done.pruned_rollups,
            )
        )
        return done

    async def _maintain_loop(self) -> None:
        while True:
            try:
                await self.maintain()
            except StoreError as exc:
                log.error(kv("store_retention_failed", store=self.name, error=exc))  # noqa: TRY400
            await asyncio.sleep(self._every)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA + LIFECYCLE_SCHEMA)
            db.execute(BACKFILL_KEYS)
        except (sqlite3.Error, OSError) as exc:
            raise StoreConfigError(self.name, f"cannot open the store: {exc}; check store.path", 0) from exc
        self._db = db

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(self.name, "the store is not open (use `async with`)")
        return self._db

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise

        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await self._run(close)
        self._pool.shutdown(wait=True)

    async def write(self, lines: Sequence[str]) -> None:
        rows: list[tuple[str, str, int, str, str]] = []
        keys: set[tuple[str, str]] = set()
        rejected: list[tuple[str, str]] = []
        for text in lines:
            try:
                p = parse_line(text)
            except LineParseError as exc:
                rejected.append((text, exc.reason))
                continue
            tags = json.dumps(p.tags, sort_keys=True, separators=(",", ":"))
            rows.append((p.measurement, tags, p.ts, tags, json.dumps(p.fields, separators=(",", ":"))))
            keys.update((p.measurement, name) for name in p.fields)

        def insert() -> None:
            db = self._conn()
            try:
                with db:
                    db.execute("BEGIN")
                    db.executemany(_UPSERT, rows)
                    db.executemany("INSERT OR IGNORE INTO field_keys VALUES (?, ?)", sorted(keys))
            except sqlite3.Error as exc:
                raise StoreError(self.name, f"write of {len(rows)} points failed: {exc}") from exc

        if rows:
            await self._run(insert)
        if rejected:
            log.warning(kv("store_lines_rejected", store=self.name, rejected=len(rejected)))
            raise PartialWriteError(self.name, rejected, len(rows))

    async def _select(self, sql: str, args: list[object]) -> list[tuple[str, str, int]]:
        def run() -> list[tuple[str, str, int]]:
            try:
                return self._conn().execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(self.name, f"query failed: {exc}") from exc

        return await self._run(run)

    async def last(self, measurement: str, where: Mapping[str, str] | None = None) -> list[Row]:
        cond, args = _filter(measurement, where)
        sql = f"SELECT tags, fields, max(ts) FROM points WHERE {cond} GROUP BY series ORDER BY series"
        return [
            Row(ts, json.loads(tags), json.loads(fields))
            for tags, fields, ts in await self._select(sql, args)
        ]

    async def series(
        self,
        measurement: str,
        fields: Sequence[str],
        where: Mapping[str, str] | None,
        start_ms: int,
        end_ms: int,
    ) -> list[Row]:
        known = await self._select("SELECT field FROM field_keys WHERE measurement = ?", [measurement])
        check_known(self.name, measurement, fields, {str(row[0]) for row in known})
        cond, args = _filter(measurement, where, start_ms, end_ms)
        sql = f"SELECT tags, fields, ts FROM points WHERE {cond} ORDER BY ts, series"
        rows: list[Row] = []
        for tags, raw, ts in await self._select(sql, args):
            stored: dict[str, Field] = json.loads(raw)
            picked = {f: stored[f] for f in fields if f in stored}
            if picked:
                rows.append(Row(ts, json.loads(tags), picked))
        return rows

    async def rollups(
        self, measurement: str, where: Mapping[str, str] | None, start_ms: int, end_ms: int
    ) -> list[Row]:
        """The downsampled aggregates (``mean_<field>``, ``max_<field>`` per bucket) in a range."""
        cond, args = _filter(measurement, where, start_ms, end_ms)
        sql = f"SELECT tags, fields, ts FROM rollups WHERE {cond} ORDER BY ts, series"
        return [Row(ts, json.loads(tags), json.loads(raw)) for tags, raw, ts in await self._select(sql, args)]

    async def count(
        self, measurement: str, field: str, where: Mapping[str, str] | None, start_ms: int, end_ms: int
    ) -> int:
        cond, args = _filter(measurement, where, start_ms, end_ms)

        def run() -> int:
            sql = f"SELECT count(*) FROM points WHERE {cond} AND json_extract(fields, ?) IS NOT NULL"
            try:
                return int(self._conn().execute(sql, [*args, _json_path(field)]).fetchone()[0])
            except sqlite3.Error as exc:
                raise StoreError(self.name, f"count failed: {exc}") from exc

        return await self._run(run)

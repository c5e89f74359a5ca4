"""Durable spool between ingest and the time-series store (SQLite WAL, ``synchronous=FULL``).

``await spool.append(lines, meta)`` returns only after the batch is committed to disk — the
gateway acknowledges to agents after that. A writer task drains the spool oldest-first into a
:class:`~gateway.store.base.TimeSeriesStore` when ``batch_lines`` are pending or every
``interval`` seconds, whichever comes first, and deletes a batch only after the store accepted
it. While more than one write's worth is pending, ``in_flight`` consecutive chunks are written
concurrently (each deleted once its own write succeeded; a failed one stays for the retry).
Lines the store rejects are moved, with the store's reason, into the ``dead_letter`` table.
A crash between the store's answer and the delete re-sends the batch on restart; source
timestamps make that an overwrite, not a duplicate. While the store fails the writer backs off
(:class:`chargewatch.retry.Backoff`) and keeps the data; ``stats().degraded`` turns true once
it has failed for ``degraded_after`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import msgspec

from chargewatch.clock import Clock, SystemClock
from chargewatch.errors import ChargeWatchError
from chargewatch.logs import kv
from chargewatch.retry import Backoff
from chargewatch.statefile import SchemaVersionError, migrate
from chargewatch.tasks import cancel_and_wait
from gateway.store.base import TimeSeriesStore
from gateway.store.errors import PartialWriteError, StoreConfigError, StoreError

__all__ = ["DeadLetter", "Spool", "SpoolError", "SpoolStats"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, meta TEXT NOT NULL,
    n INTEGER NOT NULL, lines BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, meta TEXT NOT NULL,
    line TEXT NOT NULL, reason TEXT NOT NULL);
"""
MIGRATIONS: tuple[str, ...] = (_SCHEMA,)
"""Schema steps (see chargewatch.statefile): version 1 is the layout files had before versions."""
_encode = msgspec.json.Encoder().encode
_decode_lines = msgspec.json.Decoder(list[str]).decode


class SpoolError(ChargeWatchError):
    """The spool file cannot be opened or written; ``path`` names it."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """For the gateway's status page and metrics."""

    depth_batches: int
    depth_lines: int
    oldest_age_s: float
    written_lines: int
    write_errors: int
    dead_letters: int
    degraded: bool
    config_error: bool
    last_error: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A line the store refused, with its reason and the batch's meta."""

    id: int
    created: float
    meta: str
    line: str
    reason: str


class Spool:
    """Async context manager owning the spool file and its writer task."""

    def __init__(
        self,
        path: str | Path,
        store: TimeSeriesStore,
        *,
        batch_lines: int = 5000,
        in_flight: int = 2,
        interval: float = 1.0,
        degraded_after: float = 60.0,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if batch_lines < 1 or in_flight < 1 or interval <= 0 or degraded_after < 0:
            raise ValueError(
                "spool needs batch_lines >= 1, in_flight >= 1, interval > 0, degraded_after >= 0"
            )
        self.path = Path(path)
        self._store = store
        self._batch_lines = batch_lines
        self._in_flight = in_flight
        self._interval = interval
        self._degraded_after = degraded_after
        self._clock = clock or SystemClock()
        self._backoff = backoff or Backoff(initial=0.2, cap=5.0)
        if self._backoff.bounded:
            raise ValueError("spool needs an unbounded backoff: it keeps the data and retries for good")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self._db: sqlite3.Connection | None = None
        self._pending: deque[tuple[int, float, int]] = deque()  # (id, created, lines) oldest first
        self._depth_lines = 0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._written = 0
        self._errors = 0
        self._dead = 0
        self._failing_since: float | None = None
        self._degraded_logged = False
        self._config_error = False
        self._last_error = ""

    async def __aenter__(self) -> Spool:
        await self._run(self._open)
        self._task = asyncio.create_task(self._writer(), name=f"spool-writer {self.path.name}")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the writer (pending batches stay on disk for the next start) and close the file."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._pool.shutdown(wait=True)

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            try:
                migrate(db, self.path, "gateway spool", MIGRATIONS)
            except SchemaVersionError:
                db.close()
                raise
            rows = db.execute("SELECT id, created, n FROM batch ORDER BY id").fetchall()
            self._dead = int(db.execute("SELECT count(*) FROM dead_letter").fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            raise SpoolError(self.path, f"cannot open the spool: {exc}") from exc
        self._db = db
        self._pending.extend(rows)
        self._depth_lines = sum(n for _, _, n in rows)
        log.info(kv("spool_opened", path=self.path, batches=len(rows), lines=self._depth_lines))

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise SpoolError(self.path, "the spool is not open (use `async with`)")
        return self._db

    async def append(self, lines: Sequence[str], meta: str = "") -> int:
        """Commit ``lines`` durably; the batch id. Returns only after the fsync'd commit."""
        created = self._clock.time()
        blob = _encode(list(lines))

        def insert() -> int:
            try:
                cur = self._conn().execute(
                    "INSERT INTO batch (created, meta, n, lines) VALUES (?, ?, ?, ?)",
                    (created, meta, len(lines), blob),
                )
            except sqlite3.Error as exc:
                raise SpoolError(self.path, f"append of {len(lines)} lines failed: {exc}") from exc
            assert cur.lastrowid is not None
            return cur.lastrowid

        batch_id = await self._run(insert)
        self._pending.append((batch_id, created, len(lines)))
        self._depth_lines += len(lines)
        if self._depth_lines >= self._batch_lines:
            self._wake.set()
        return batch_id

    def stats(self) -> SpoolStats:
        """Depth, age of the oldest batch, counters and the degraded flag, right now."""
        oldest = self._clock.time() - self._pending[0][1] if self._pending else 0.0
        return SpoolStats(
            depth_batches=len(self._pending),
            depth_lines=self._depth_lines,
            oldest_age_s=max(0.0, oldest),
            written_lines=self._written,
            write_errors=self._errors,
            dead_letters=self._dead,
            degraded=self._is_degraded(),
            config_error=self._config_error,
            last_error=self._last_error,
        )

    def _is_degraded(self) -> bool:
        since = self._failing_since
        return since is not None and self._clock.monotonic() - since >= self._degraded_after

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead-lettered lines."""

        def read() -> list[DeadLetter]:
            sql = "SELECT id, created, meta, line, reason FROM dead_letter ORDER BY id DESC LIMIT ?"
            return [DeadLetter(*row) for row in self._conn().execute(sql, (limit,)).fetchall()]

        return await self._run(read)

    async def flush(self) -> None:
        """Write everything pending now; raises the store's error if it refuses."""
        async with self._lock:
            await self._drain()

    async def _writer(self) -> None:
        retrying = self._backoff.start()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                async with self._lock:
                    await self._drain()
            except StoreError as exc:
                self._note_failure(exc)
                await asyncio.sleep(retrying.failed(exc))
                continue
            retrying.succeeded()

    async def _drain(self) -> None:
        """Write pending batches oldest-first, two store writes in flight while backlogged."""
        while self._pending:
            chunks = self._chunks(self._in_flight)
            results = await asyncio.gather(*map(self._write_chunk, chunks), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    def _chunks(self, most: int) -> list[list[tuple[int, float, int]]]:
        """Up to ``most`` consecutive runs of pending batches of about ``batch_lines`` each."""
        chunks: list[list[tuple[int, float, int]]] = []
        count = 0
        for item in self._pending:
            if chunks and chunks[-1] and count + item[2] > self._batch_lines:
                if len(chunks) == most:
                    break
                chunks.append([])
                count = 0
            if not chunks:
                chunks.append([])
            chunks[-1].append(item)
            count += item[2]
        return chunks

    async def _write_chunk(self, take: list[tuple[int, float, int]]) -> None:
        first, last = take[0][0], take[-1][0]
        count = sum(n for _, _, n in take)
        batches = await self._run(partial(self._read, first, last))
        lines = [line for _, _, chunk in batches for line in chunk]
        rejected: list[tuple[str, str]] = []
        try:
            await self._store.write(lines)
        except PartialWriteError as exc:
            rejected = exc.rejected
        await self._run(partial(self._commit, first, last, batches, rejected))
        for item in take:
            self._pending.remove(item)
        self._depth_lines -= count
        self._written += count - len(rejected)
        self._dead += len(rejected)
        if rejected:
            log.warning(kv("spool_dead_lettered", lines=len(rejected), first=rejected[0][1][:200]))
        self._note_success()

    def _read(self, first: int, last: int) -> list[tuple[int, str, list[str]]]:
        sql = "SELECT id, meta, lines FROM batch WHERE id BETWEEN ? AND ? ORDER BY id"
        rows = self._conn().execute(sql, (first, last)).fetchall()
        return [(i, meta, _decode_lines(blob)) for i, meta, blob in rows]

    def _commit(
        self,
        first: int,
        last: int,
        batches: list[tuple[int, str, list[str]]],
        rejected: list[tuple[str, str]],
    ) -> None:
        db = self._conn()
        now = self._clock.time()
        meta_of = {line: meta for _, meta, chunk in batches for line in chunk} if rejected else {}
        try:
            with db:
                db.execute("BEGIN")
                db.executemany(
                    "INSERT INTO dead_letter (created, meta, line, reason) VALUES (?, ?, ?, ?)",
                    [(now, meta_of.get(line, ""), line, reason) for line, reason in rejected],
                )
                db.execute("DELETE FROM batch WHERE id BETWEEN ? AND ?", (first, last))
        except sqlite3.Error as exc:
            raise SpoolError(self.path, f"cannot delete written batches {first}..{last}: {exc}") from exc

    def _note_failure(self, exc: StoreError) -> None:
        self._errors += 1
        self._last_error = str(exc)
        # sticky until a write succeeds: an outage after a 401 does not mean the 401 was fixed
        self._config_error = self._config_error or isinstance(exc, StoreConfigError)
        if self._failing_since is None:
            self._failing_since = self._clock.monotonic()
            log.warning(kv("store_write_failing", store=self._store.name, error=exc, depth=self._depth_lines))
        if not self._degraded_logged and self._is_degraded():
            self._degraded_logged = True
            log.error(kv("spool_degraded", store=self._store.name, depth=self._depth_lines))

    def _note_success(self) -> None:
        if self._failing_since is not None:
            down = self._clock.monotonic() - self._failing_since
            log.info(kv("store_write_recovered", store=self._store.name, down_s=round(down, 1)))
        self._failing_since = None
        self._degraded_logged = False
        self._config_error = False

"""The durable outbox: SQLite in WAL mode holding every committed device message until acked.

One ``Outbox`` per agent process, used from the event-loop thread only (SQLite is local; each
call is one short transaction). Guarantees:

* the boot id is persisted and incremented on every open;
* per device, ``seq`` counts up from 0 within a boot and never repeats: the seq is taken, the
  row inserted and the device's last seq/ts written in one transaction, so a kill -9 either
  keeps all of it or none;
* per device, ``ts`` is strictly increasing, across boots too (a clock that goes back or repeats
  is clamped to ``last_ts + 0.001``): InfluxDB keys points by timestamp;
* past ``capacity`` the oldest telemetry row is dropped (counted, persisted) to make room for
  a new message; events are never dropped (with no telemetry left, a new event is stored past
  capacity and a new telemetry message is the one dropped).

Deleting acked rows needs no durability of its own: a delete lost on power loss only makes
the link send those rows again, and the gateway dedupes them. So :meth:`ack_many` applies a
batch of acks in one transaction committed with ``synchronous=NORMAL`` (no fsync; the next
FULL commit or checkpoint makes it durable along with everything before it in the WAL).

Listeners (the MQTT link) hear about committed rows and deleted row ids after each commit.

One agent per outbox: :meth:`Outbox.open` takes an exclusive ``flock`` on ``<path>.lock`` (the
holder's PID written inside) and raises :class:`OutboxLockedError` naming the file and that PID
when another process, or another ``Outbox`` in this one, holds it. Two agents on one outbox
would hand out the same seqs and kick each other off the broker with one client id.

Each row also keeps ``held_at``, the agent's clock when it was stored: :meth:`oldest_age` (how
long the agent has been holding its oldest row, reported in its status so the gateway can wait
for a draining backlog before calling a gap) is measured on that clock, not on the message's
source ``ts``, which a device clock (``device_clock``, an accelerated simulator, a skewed RTC)
may put minutes away from the agent's.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from chargewatch.errors import ChargeWatchError
from chargewatch.logs import kv
from chargewatch.messages import AckRange, Event, EventKind, Telemetry, Value, encode
from chargewatch.statefile import SchemaVersionError, migrate
from edge_agent.outbox.settings import OutboxSettings

log = logging.getLogger(__name__)

TS_STEP = 0.001
EVENT_PRIO = 1
TELEMETRY_PRIO = 0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS series (device TEXT PRIMARY KEY, boot INTEGER NOT NULL,
    seq INTEGER NOT NULL, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS msgs (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL,
    boot INTEGER NOT NULL, seq INTEGER NOT NULL, prio INTEGER NOT NULL, ts REAL NOT NULL,
    payload BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS msgs_key ON msgs (device, boot, seq);
CREATE INDEX IF NOT EXISTS msgs_prio ON msgs (prio, id);
"""
_COLS = "id, device, boot, seq, prio, ts, payload"
_HELD_AT = """
ALTER TABLE msgs ADD COLUMN held_at REAL;
UPDATE msgs SET held_at = ts;
"""
MIGRATIONS: tuple[str, ...] = (_SCHEMA, _HELD_AT)
"""Schema steps (see chargewatch.statefile): version 1 is the layout files had before versions;
version 2 adds ``held_at`` (rows from before it count as held since their source ``ts``)."""


class OutboxError(ChargeWatchError):
    """The outbox database cannot be opened or written; the message names the file."""


class OutboxLockedError(OutboxError):
    """Another agent holds the outbox's lock file."""


def _lock(path: Path) -> int:
    """An exclusive non-blocking ``flock`` on ``path`` (PID written inside); the open fd."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise OutboxLockedError(
            f"{path}: outbox is in use by another agent (pid {holder}); "
            "stop it or give this agent its own outbox.path"
        ) from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class Row(NamedTuple):
    """One stored message; ``id`` orders rows oldest-first and is never reused."""

    id: int
    device: str
    boot: int
    seq: int
    prio: int
    ts: float
    payload: bytes


class OutboxListener(Protocol):
    """Told, after each commit, which rows were added and which row ids were deleted."""

    def committed(self, rows: Sequence[Row]) -> None: ...

    def deleted(self, ids: Sequence[int]) -> None: ...


class Outbox:
    """Context manager: ``with Outbox(settings) as box: box.add_telemetry(...)``."""

    def __init__(self, settings: OutboxSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self.path = Path(settings.path)
        self.boot = 0
        self.dropped_total = 0
        self.dropped_boot = 0
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._depth = 0
        self._next_seq: dict[str, int] = {}
        self._last_ts: dict[str, float] = {}
        self._listeners: list[OutboxListener] = []
        self._tx_depth = 0
        self._tx_rows: list[Row] = []
        self._tx_deleted: list[int] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Outbox:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Lock, open (creating if needed), take the next boot id, load per-device state."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(lock_path)
        except OSError as exc:
            raise OutboxError(f"{lock_path}: cannot lock the outbox: {exc}") from exc
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.settings.synchronous.upper()}")
            try:
                migrate(db, self.path, "agent outbox", MIGRATIONS)
            except SchemaVersionError:
                db.close()
                self._unlock()
                raise
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO meta VALUES ('boot', 1) ON CONFLICT(key) DO UPDATE SET value=value+1")
            self.boot = int(db.execute("SELECT value FROM meta WHERE key='boot'").fetchone()[0])
            db.execute("COMMIT")
            self.dropped_total = int(
                (db.execute("SELECT value FROM meta WHERE key='dropped'").fetchone() or (0,))[0]
            )
            self._last_ts = {d: float(t) for d, t in db.execute("SELECT device, ts FROM series")}
            self._depth = int(db.execute("SELECT COUNT(*) FROM msgs").fetchone()[0])
        except sqlite3.Error as exc:
            self._unlock()
            raise OutboxError(f"{self.path}: cannot open outbox database: {exc}") from exc
        self._db = db
        self._next_seq = {}
        log.info(kv("outbox_open", path=self.path, boot=self.boot, depth=self._depth))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only descriptor releases the flock
            self._lock_fd = None

    def add_listener(self, listener: OutboxListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: OutboxListener) -> None:
        self._listeners.remove(listener)

    # -- writing -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several adds/acks into one commit (one fsync); listeners hear after it."""
        db = self._conn()
        if self._tx_depth == 0:
            db.execute("BEGIN IMMEDIATE")
        self._tx_depth += 1
        try:
            yield
        except BaseException:
            self._tx_depth -= 1
            if self._tx_depth == 0:
                self._rollback()
            raise
        self._tx_depth -= 1
        if self._tx_depth == 0:
            self._commit()

    def add_telemetry(  # noqa: PLR0917 -- the positional signature is the agreed contract
        self,
        device: str,
        ts: float,
        model: str,
        ports: dict[str, list[Value]],
        values: dict[str, Value],
        flags: dict[str, str],
    ) -> Telemetry:
        """Commit one telemetry message; returns it with its boot, seq and (clamped) ts."""
        with self.transaction():
            seq, ts = self._claim(device, ts)
            msg = Telemetry(
                device=device,
                boot=self.boot,
                seq=seq,
                ts=ts,
                model=model,
                ports=ports,
                values=values,
                flags=flags,
            )
            self._insert(msg, TELEMETRY_PRIO)
        return msg

    def add_event(
        self,
        device: str,
        ts: float,
        kind: EventKind,
        port: int | None,
        data: dict[str, float | str | bool | None],
    ) -> Event:
        """Commit one event (priority: never dropped, sent first after a reconnect)."""
        with self.transaction():
            seq, ts = self._claim(device, ts)
            msg = Event(device=device, boot=self.boot, seq=seq, ts=ts, kind=kind, port=port, data=data)
            self._insert(msg, EVENT_PRIO)
        return msg

    def ack(self, device: str, boot: int, ranges: Sequence[AckRange]) -> int:
        """Delete the acked seqs of (device, boot); returns how many rows were deleted."""
        return self.ack_many([(device, boot, ranges)])

    def ack_many(self, acks: Sequence[tuple[str, int, Sequence[AckRange]]]) -> int:
        """Apply several acks (device, boot, ranges) in one transaction without an fsync."""
        db = self._conn()
        relax = self._tx_depth == 0 and self.settings.synchronous == "full"
        if relax:
            db.execute("PRAGMA synchronous=NORMAL")
        deleted = 0
        try:
            with self.transaction():
                for device, boot, ranges in acks:
                    for r in ranges:
                        ids = db.execute(
                            "DELETE FROM msgs WHERE device=? AND boot=? AND seq BETWEEN ? AND ? RETURNING id",
                            (device, boot, r.lo, r.hi),
                        ).fetchall()
                        self._tx_deleted.extend(i for (i,) in ids)
                        deleted += len(ids)
                self._depth -= deleted
        finally:
            if relax:
                db.execute("PRAGMA synchronous=FULL")
        return deleted

    # -- reading -----------------------------------------------------------------------------
    def pending(
        self, *, prio: int | None = None, after_id: int = 0, upto_id: int | None = None, limit: int = 1000
    ) -> list[Row]:
        """Stored rows oldest-first with ``after_id < id <= upto_id``, optionally of one priority."""
        sql = f"SELECT {_COLS} FROM msgs WHERE id > ?"
        args: list[object] = [after_id]
        if upto_id is not None:
            sql += " AND id <= ?"
            args.append(upto_id)
        if prio is not None:
            sql += " AND prio = ?"
            args.append(prio)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        return [Row(*r) for r in self._conn().execute(sql, args)]

    def rows(self, ids: Sequence[int]) -> list[Row]:
        """The rows among ``ids`` that are still stored, oldest-first."""
        db = self._conn()
        out: list[Row] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            out.extend(Row(*r) for r in db.execute(f"SELECT {_COLS} FROM msgs WHERE id IN ({marks})", chunk))
        out.sort()
        return out

    def last_id(self) -> int:
        """Id of the newest stored row (0 when empty)."""
        return int(self._conn().execute("SELECT COALESCE(MAX(id), 0) FROM msgs").fetchone()[0])

    def depth(self) -> int:
        """Messages stored and not yet acked."""
        return self._depth

    def oldest_age(self, now: float) -> float:
        """Seconds the oldest stored message has been held at ``now`` (agent clock; 0 when empty)."""
        row = self._conn().execute("SELECT held_at FROM msgs ORDER BY id LIMIT 1").fetchone()
        return max(0.0, now - float(row[0])) if row else 0.0

    # -- internals ---------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError(f"{self.path}: outbox is not open")
        return self._db

    def _claim(self, device: str, ts: float) -> tuple[int, float]:
        last = self._last_ts.get(device)
        if last is not None and ts < last + TS_STEP:
            ts = round(last + TS_STEP, 6)
        return self._next_seq.get(device, 0), ts

    def _insert(self, msg: Telemetry | Event, prio: int) -> None:
        db = self._conn()
        payload = encode(msg)
        try:
            full = self._depth >= self.settings.capacity
            if full and not self._drop_oldest() and prio == TELEMETRY_PRIO:
                log.warning(kv("outbox_full_dropped_new", device=msg.device, seq=msg.seq))
                self._count_drop()
            else:
                cur = db.execute(
                    "INSERT INTO msgs (device, boot, seq, prio, ts, payload, held_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (msg.device, msg.boot, msg.seq, prio, msg.ts, payload, self._clock()),
                )
                assert cur.lastrowid is not None
                self._tx_rows.append(Row(cur.lastrowid, msg.device, msg.boot, msg.seq, prio, msg.ts, payload))
                self._depth += 1
            db.execute(
                "INSERT INTO series VALUES (?, ?, ?, ?) ON CONFLICT(device) DO UPDATE "
                "SET boot=excluded.boot, seq=excluded.seq, ts=excluded.ts",
                (msg.device, msg.boot, msg.seq, msg.ts),
            )
        except sqlite3.Error as exc:
            raise OutboxError(f"{self.path}: cannot store {msg.device} seq {msg.seq}: {exc}") from exc
        self._next_seq[msg.device] = msg.seq + 1
        self._last_ts[msg.device] = msg.ts

    def _drop_oldest(self) -> bool:
        db = self._conn()
        row = db.execute(f"SELECT id FROM msgs WHERE prio = {TELEMETRY_PRIO} ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return False
        db.execute("DELETE FROM msgs WHERE id = ?", row)
        self._tx_deleted.append(int(row[0]))
        self._depth -= 1
        self._count_drop()
        return True

    def _count_drop(self) -> None:
        self._conn().execute(
            "INSERT INTO meta VALUES ('dropped', 1) ON CONFLICT(key) DO UPDATE SET value=value+1"
        )
        if self.dropped_boot == 0:
            log.warning(kv("outbox_full", path=self.path, capacity=self.settings.capacity))
        self.dropped_total += 1
        self.dropped_boot += 1

    def _commit(self) -> None:
        try:
            self._conn().execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise OutboxError(f"{self.path}: commit failed: {exc}") from exc
        rows, deleted = self._tx_rows, self._tx_deleted
        self._tx_rows, self._tx_deleted = [], []
        for listener in self._listeners:
            if deleted:
                listener.deleted(deleted)
            if rows:
                listener.committed(rows)

    def _rollback(self) -> None:
        db = self._conn()
        if db.in_transaction:
            db.execute("ROLLBACK")
        self._tx_rows, self._tx_deleted = [], []
        # in-memory state may have advanced inside the failed transaction: reload it from disk
        self._depth = int(db.execute("SELECT COUNT(*) FROM msgs").fetchone()[0])
        self.dropped_total = int(
            (db.execute("SELECT value FROM meta WHERE key='dropped'").fetchone() or (0,))[0]
        )
        self._last_ts = {d: float(t) for d, t in db.execute("SELECT device, ts FROM series")}
        self._next_seq = {
            d: int(s) + 1 for d, b, s in db.execute("SELECT device, boot, seq FROM series") if b == self.boot
        }

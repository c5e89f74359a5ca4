"""Durable ingest state in one SQLite file (WAL): dedupe marks, dead letters and alerts.

The spool owns the data; this file owns what the gateway must remember across a kill -9 to
stay exactly-once in effect: the (device, boot) high-water marks, every rejected message with
its reason, and the alert book (one row per alert id, with its acknowledgement, plus every
state change exactly as published, so the stored history can be replayed state for state).

WAL with ``synchronous=NORMAL``: every commit survives a kill -9 of the gateway; a power loss
may forget the last commits, which only means a few re-accepted messages (their points
overwrite themselves) — the data itself is in the spool, which fsyncs every commit. It also keeps
these short transactions, run on the event loop, free of an fsync each.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from chargewatch.errors import ChargeWatchError
from chargewatch.statefile import SchemaVersionError, migrate
from gateway.ingest.dedupe import SeqState, decode_state, encode_state

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seqmark (device TEXT, boot INTEGER, state BLOB, PRIMARY KEY (device, boot));
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received REAL, topic TEXT, reason TEXT, detail TEXT,
    payload BLOB, size INTEGER);
CREATE TABLE IF NOT EXISTS alert (
    id TEXT PRIMARY KEY, key TEXT, device TEXT, port INTEGER, kind TEXT, severity TEXT, state TEXT,
    first_ts REAL, ts REAL, message TEXT, acked_at REAL, acked_by TEXT);
CREATE INDEX IF NOT EXISTS alert_open ON alert (key, state);
"""
_ALERT_HISTORY = """
CREATE TABLE alert_change (
    n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT, device TEXT, port INTEGER, kind TEXT,
    severity TEXT, state TEXT, ts REAL, message TEXT);
"""
MIGRATIONS: tuple[str, ...] = (_SCHEMA, _ALERT_HISTORY)
"""Schema steps (see chargewatch.statefile): version 1 is the layout files had before versions;
version 2 adds ``alert_change``, every alert state change as published (history replay)."""


class StateError(ChargeWatchError):
    """The ingest state database failed; carries its path."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path


class DeadLetter(msgspec.Struct, frozen=True):
    id: int
    received: float
    topic: str
    reason: str
    detail: str
    payload: str
    size: int


class AlertRow(msgspec.Struct, frozen=True):
    id: str
    key: str
    device: str
    port: int | None
    kind: str
    severity: str
    state: str
    first_ts: float
    ts: float
    message: str
    acked_at: float | None
    acked_by: str | None


class ChangeRow(msgspec.Struct, frozen=True):
    """One alert state change as it was published."""

    id: str
    device: str
    port: int | None
    kind: str
    severity: str
    state: str
    ts: float
    message: str


class IngestState:
    """SQLite-backed state; every method is one short transaction."""

    def __init__(self, path: Path | str, payload_cap: int = 2048, keep: int = 100_000) -> None:
        self.path = Path(path)
        self.payload_cap = payload_cap
        self.keep = keep
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            migrate(self._db, self.path, "gateway ingest state", MIGRATIONS)
        except SchemaVersionError:
            self._db.close()
            raise
        except sqlite3.Error as exc:
            raise StateError(self.path, f"cannot open ingest state: {exc}") from exc
        self._dead_count = self._scalar("SELECT COALESCE(MAX(id), 0) FROM dead_letter")

    def _scalar(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        row = self._db.execute(sql, args).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()

    def load_marks(self) -> dict[tuple[str, int], SeqState]:
        rows = self._db.execute("SELECT device, boot, state FROM seqmark").fetchall()
        return {(d, int(b)): decode_state(s) for d, b, s in rows}

    def save_marks(self, changed: dict[tuple[str, int], SeqState | None]) -> None:
        """Persist changed marks in one transaction (call right after the spool commit)."""
        if not changed:
            return
        try:
            with self._db:
                self._db.execute("BEGIN")
                gone = [key for key, st in changed.items() if st is None]
                if gone:
                    self._db.executemany("DELETE FROM seqmark WHERE device=? AND boot=?", gone)
                self._db.executemany(
                    "INSERT OR REPLACE INTO seqmark VALUES (?, ?, ?)",
                    [
                        (device, boot, encode_state(st))
                        for (device, boot), st in changed.items()
                        if st is not None
                    ],
                )
        except sqlite3.Error as exc:
            raise StateError(self.path, f"cannot save seq marks: {exc}") from exc

    def dead_letter(self, items: list[tuple[float, str, str, str, bytes]]) -> None:
        """Keep rejected messages: (received, topic, reason, detail, payload), payload truncated."""
        if not items:
            return
        cap = self.payload_cap
        rows = [(t, topic[:512], r, d[:1024], p[:cap], len(p)) for t, topic, r, d, p in items]
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO dead_letter (received, topic, reason, detail, payload, size) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._dead_count += len(rows)
                self._db.execute("DELETE FROM dead_letter WHERE id <= ?", (self._dead_count - self.keep,))
        except sqlite3.Error as exc:
            raise StateError(self.path, f"cannot write dead letters: {exc}") from exc

    def dead_letters(self, limit: int = 100, reason: str | None = None) -> list[DeadLetter]:
        sql = "SELECT id, received, topic, reason, detail, payload, size FROM dead_letter"
        args: tuple[Any, ...] = ()
        if reason is not None:
            sql += " WHERE reason = ?"
            args = (reason,)
        rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [
            DeadLetter(i, t, tp, r, d, bytes(p).decode("utf-8", "replace"), s)
            for i, t, tp, r, d, p, s in rows
        ]

    def dead_letter_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT reason, COUNT(*) FROM dead_letter GROUP BY reason").fetchall()
        return {r: int(n) for r, n in rows}

    def open_alert(self, key: str) -> AlertRow | None:
        row = self._db.execute(
            f"SELECT {_ALERT_COLS} FROM alert WHERE key=? AND state != 'resolved' "
            "ORDER BY first_ts DESC LIMIT 1",
            (key,),
        ).fetchone()
        return AlertRow(*row) if row else None

    def alert_seq(self, key: str) -> int:
        return self._scalar("SELECT COUNT(*) FROM alert WHERE key=?", (key,))

    def last_resolved_ts(self, key: str) -> float | None:
        """Source time at which the newest resolved episode of ``key`` ended (None if none)."""
        sql = "SELECT MAX(ts) FROM alert WHERE key=? AND state='resolved'"
        row = self._db.execute(sql, (key,)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def book_alert(self, row: AlertRow, change: ChangeRow) -> None:
        """Save the alert's new state and append the published change, in one transaction."""
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute(
                    f"INSERT OR REPLACE INTO alert ({_ALERT_COLS}) VALUES ({_ALERT_QS})", row_tuple(row)
                )
                self._db.execute(
                    f"INSERT INTO alert_change ({_CHANGE_COLS}) VALUES ({_CHANGE_QS})",
                    tuple(getattr(change, f) for f in ChangeRow.__struct_fields__),
                )
        except sqlite3.Error as exc:
            raise StateError(self.path, f"cannot save alert {row.id}: {exc}") from exc

    def alert_changes(self, limit: int = 1000) -> list[ChangeRow]:
        """The newest ``limit`` published alert changes, oldest first."""
        rows = self._db.execute(
            f"SELECT {_CHANGE_COLS} FROM alert_change ORDER BY n DESC LIMIT ?", (limit,)
        ).fetchall()
        return [ChangeRow(*r) for r in reversed(rows)]

    def upsert_alert(self, row: AlertRow) -> None:
        try:
            with self._db:
                self._db.execute(
                    f"INSERT OR REPLACE INTO alert ({_ALERT_COLS}) VALUES ({_ALERT_QS})", row_tuple(row)
                )
        except sqlite3.Error as exc:
            raise StateError(self.path, f"cannot save alert {row.id}: {exc}") from exc

    def alerts(self, limit: int = 200, open_only: bool = False) -> list[AlertRow]:
        where = " WHERE state != 'resolved'" if open_only else ""
        rows = self._db.execute(f"SELECT {_ALERT_COLS} FROM alert{where} ORDER BY ts DESC LIMIT ?", (limit,))
        return [AlertRow(*r) for r in rows.fetchall()]

    def alerts_during(self, device: str, port: int, start: float, end: float) -> list[tuple[str, str]]:
        """(id, kind) of the alerts of ``device`` (that port or the whole pile) open in [start, end]."""
        rows = self._db.execute(
            "SELECT id, kind FROM alert WHERE device=? AND (port=? OR port IS NULL) AND first_ts <= ? "
            "AND (ts >= ? OR state != 'resolved') ORDER BY first_ts LIMIT 100",
            (device, port, end, start),
        )
        return [(str(i), str(k)) for i, k in rows.fetchall()]

    def fired_since(self, since: float, limit: int) -> list[tuple[AlertRow, float | None]]:
        """The newest ``limit`` alerts whose first change is at or after ``since``, newest first,
        each with the time of its first change that was not ``pending`` (None while pending)."""
        rows = self._db.execute(
            f"SELECT {_ALERT_COLS} FROM alert WHERE first_ts >= ? ORDER BY first_ts DESC LIMIT ?",
            (since, limit),
        ).fetchall()
        alerts = [AlertRow(*r) for r in rows]
        settled = dict(
            self._db.execute(
                "SELECT id, MIN(ts) FROM alert_change WHERE state != 'pending' AND ts >= ? GROUP BY id",
                (since,),
            ).fetchall()
        )
        return [(a, settled.get(a.id, None if a.state == "pending" else a.ts)) for a in alerts]

    def get_alert(self, alert_id: str) -> AlertRow | None:
        row = self._db.execute(f"SELECT {_ALERT_COLS} FROM alert WHERE id=?", (alert_id,)).fetchone()
        return AlertRow(*row) if row else None


_CHANGE_COLS = "id, device, port, kind, severity, state, ts, message"
_CHANGE_QS = ", ".join("?" * 8)
_ALERT_COLS = "id, key, device, port, kind, severity, state, first_ts, ts, message, acked_at, acked_by"
_ALERT_QS = ", ".join("?" * 12)


def row_tuple(row: AlertRow) -> tuple[Any, ...]:
    return tuple(getattr(row, f) for f in AlertRow.__struct_fields__)

"""Sealed evidence on disk: one SQLite file beside the ingest state, written once per alert.

Why its own file: evidence is the bulk of what the gateway keeps (tens of kB per alert, against
a few hundred bytes of alert row), it is written once and read rarely, and it must outlive the
alert book's churn; kept apart, it neither bloats the hot ingest state nor shares its schema
versions, and ``chargewatch gateway backup`` copies it like the other state files. The
time-series store is no home for it: its retention drops raw points after ``raw_days`` and
anyone with write access can overwrite a point, while evidence must stay as sealed.

Each row holds the canonical bytes of one document (:func:`gateway.evidence.window.canonical`)
and their SHA-256. Immutability is enforced by the file itself: triggers abort every
``UPDATE`` and ``DELETE`` of the table, and a second insert of an alert id fails on its
primary key (plain ``INSERT``; ``INSERT OR REPLACE`` would delete without firing the delete
trigger, so this module never uses it). :meth:`EvidenceStore.verify` re-computes the checksum.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from chargewatch.errors import ChargeWatchError
from chargewatch.statefile import SchemaVersionError, migrate

_SCHEMA = """
CREATE TABLE evidence (
    alert_id TEXT PRIMARY KEY, device TEXT NOT NULL, kind TEXT NOT NULL, alert_ts REAL NOT NULL,
    sealed_at REAL NOT NULL, sha256 TEXT NOT NULL, body BLOB NOT NULL);
CREATE INDEX evidence_device ON evidence (device, alert_ts);
CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence
BEGIN SELECT RAISE(ABORT, 'sealed evidence is immutable'); END;
CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence
BEGIN SELECT RAISE(ABORT, 'sealed evidence is immutable'); END;
"""
MIGRATIONS: tuple[str, ...] = (_SCHEMA,)
"""Schema steps (see chargewatch.statefile); version 1: the ``evidence`` table and its triggers."""


class EvidenceError(ChargeWatchError):
    """The evidence file failed or refused a write; carries its path and the alert id."""

    def __init__(self, path: Path, alert_id: str, detail: str) -> None:
        super().__init__(f"{path}: evidence of alert {alert_id!r}: {detail}")
        self.path = path
        self.alert_id = alert_id


class SealedError(EvidenceError):
    """A write to evidence that is already sealed (it never changes)."""


class Sealed:
    """One sealed row as read back: its canonical bytes and the checksum stored with them."""

    __slots__ = ("alert_id", "body", "sha256")

    def __init__(self, alert_id: str, body: bytes, sha256: str) -> None:
        self.alert_id = alert_id
        self.body = body
        self.sha256 = sha256

    @property
    def intact(self) -> bool:
        """The stored checksum matches the stored bytes."""
        return hashlib.sha256(self.body).hexdigest() == self.sha256

    def document(self) -> dict[str, Any]:
        """The evidence document with ``sealed: true`` and its ``sha256``."""
        doc: dict[str, Any] = json.loads(self.body)
        return {**doc, "sealed": True, "sha256": self.sha256}


class EvidenceStore:
    """The evidence file; safe to call from the event loop and from worker threads (one lock)."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            if readonly:
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")  # evidence is written once: make it stick
                migrate(self._db, self.path, "gateway evidence", MIGRATIONS)
        except SchemaVersionError:
            self._db.close()
            raise
        except sqlite3.Error as exc:
            raise EvidenceError(self.path, "-", f"cannot open the evidence file: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def seal(self, doc: dict[str, Any], body: bytes, sealed_at: float) -> str:
        """Store ``body`` (the canonical bytes of ``doc``) for good; its SHA-256.

        Raises :class:`SealedError` when the alert's evidence is already sealed.
        """
        digest = hashlib.sha256(body).hexdigest()
        row = (doc["alert_id"], doc["device"], doc["kind"], doc["alert_ts"], sealed_at, digest, body)
        try:
            with self._lock:
                self._db.execute("INSERT INTO evidence VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        except sqlite3.IntegrityError as exc:
            raise SealedError(self.path, doc["alert_id"], f"already sealed, refused: {exc}") from exc
        except sqlite3.Error as exc:
            raise EvidenceError(self.path, doc["alert_id"], f"cannot seal: {exc}") from exc
        return digest

    def get(self, alert_id: str) -> Sealed | None:
        """The sealed evidence of ``alert_id`` (None when none is sealed)."""
        with self._lock:
            row = self._db.execute(
                "SELECT body, sha256 FROM evidence WHERE alert_id=?", (alert_id,)
            ).fetchone()
        return None if row is None else Sealed(alert_id, bytes(row[0]), str(row[1]))

    def has(self, alert_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM evidence WHERE alert_id=?", (alert_id,)).fetchone()
        return row is not None

    def listing(self, limit: int = 10_000) -> list[tuple[str, str, float, str]]:
        """(alert id, kind, alert time, sha256) of the newest sealed rows, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT alert_id, kind, alert_ts, sha256 FROM evidence ORDER BY alert_ts DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [(str(i), str(k), float(t), str(d)) for i, k, t, d in rows]

    def verify(self) -> tuple[int, list[str]]:
        """(rows checked, ids whose bytes no longer match their checksum)."""
        with self._lock:
            rows = self._db.execute("SELECT alert_id, body, sha256 FROM evidence").fetchall()
        bad = [str(i) for i, body, digest in rows if hashlib.sha256(bytes(body)).hexdigest() != digest]
        return len(rows), bad

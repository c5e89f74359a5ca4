"""Schema versions of the SQLite state files (agent outbox, gateway spool and ingest state).

A file's version is SQLite's ``PRAGMA user_version``; version ``n`` means the first ``n`` steps
of the file's migration list have been applied. Files written before versions existed read 0:
step 1 of every list is the layout they already have (``CREATE … IF NOT EXISTS``), so opening
them with this code only stamps them. Each step runs in one transaction together with the new
version number, so a crash mid-upgrade leaves the file at the previous version. A file from a
newer ChargeWatch (a version beyond the list) is refused, never guessed at.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from chargewatch.errors import ChargeWatchError
from chargewatch.logs import kv

__all__ = ["SchemaVersionError", "file_version", "migrate"]

log = logging.getLogger(__name__)


class SchemaVersionError(ChargeWatchError):
    """A state file was written by a newer ChargeWatch (or is not the file it should be)."""


def _too_new(path: Path | str, what: str, found: int, known: int) -> SchemaVersionError:
    return SchemaVersionError(
        f"{path}: {what} has schema version {found}, newer than this ChargeWatch knows ({known}). "
        "Fix: run the ChargeWatch version that wrote it (or newer), or restore a backup made with this one"
    )


def migrate(db: sqlite3.Connection, path: Path | str, what: str, steps: Sequence[str]) -> int:
    """Bring the open file ``db`` to ``len(steps)``; its version before. Needs isolation_level=None."""
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    if found > len(steps):
        raise _too_new(path, what, found, len(steps))
    fresh = found == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    for version in range(found + 1, len(steps) + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(steps[version - 1]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    if fresh:
        log.info(kv("state_file_created", path=path, what=what, version=len(steps)))
    elif found < len(steps):
        log.info(kv("state_file_migrated", path=path, what=what, version_from=found, version_to=len(steps)))
    return found


def file_version(path: Path | str, what: str, known: int) -> int:
    """The schema version of the file at ``path`` (0 when absent), read without changing it.

    Raises SchemaVersionError for a version beyond ``known``.
    """
    if not Path(path).exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()
    if found > known:
        raise _too_new(path, what, found, known)
    return found


def _statements(script: str) -> list[str]:
    """The statements of a migration step, split where SQLite says a statement is complete."""
    out: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return out

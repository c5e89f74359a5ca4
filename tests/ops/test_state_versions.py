"""State files carry a schema version (``PRAGMA user_version``) and are migrated on open.

A v0 file is today's layout written before versions existed: opened with this code it keeps its
data and is stamped with the current version. A file from a newer ChargeWatch is refused with a
one-line error, by the classes and by ``chargewatch gateway --check`` / start-up.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from chargewatch.statefile import SchemaVersionError, file_version, migrate
from edge_agent.outbox import Outbox
from edge_agent.outbox import store as outbox_store
from edge_agent.outbox.settings import OutboxSettings
from gateway import spool as spool_module
from gateway.ingest import state as state_module
from gateway.ingest.state import IngestState
from gateway.spool import Spool
from gateway.store import SQLiteStore
from tests.ops.support import cli, write_yaml

# The layouts as written before versions existed (frozen here: the code's own schema may move on).
OUTBOX_V0 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS series (device TEXT PRIMARY KEY, boot INTEGER NOT NULL,
    seq INTEGER NOT NULL, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS msgs (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL,
    boot INTEGER NOT NULL, seq INTEGER NOT NULL, prio INTEGER NOT NULL, ts REAL NOT NULL,
    payload BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS msgs_key ON msgs (device, boot, seq);
CREATE INDEX IF NOT EXISTS msgs_prio ON msgs (prio, id);
"""
STATE_V0 = """
CREATE TABLE IF NOT EXISTS seqmark (device TEXT, boot INTEGER, state BLOB, PRIMARY KEY (device, boot));
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received REAL, topic TEXT, reason TEXT, detail TEXT,
    payload BLOB, size INTEGER);
CREATE TABLE IF NOT EXISTS alert (
    id TEXT PRIMARY KEY, key TEXT, device TEXT, port INTEGER, kind TEXT, severity TEXT, state TEXT,
    first_ts REAL, ts REAL, message TEXT, acked_at REAL, acked_by TEXT);
CREATE INDEX IF NOT EXISTS alert_open ON alert (key, state);
"""
SPOOL_V0 = """
CREATE TABLE IF NOT EXISTS batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, meta TEXT NOT NULL,
    n INTEGER NOT NULL, lines BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, meta TEXT NOT NULL,
    line TEXT NOT NULL, reason TEXT NOT NULL);
"""


def _v0(path: Path, schema: str, *rows: tuple[str, tuple[object, ...]]) -> Path:
    """A file in today's layout with no version, as the code before versions wrote it."""
    db = sqlite3.connect(path)
    db.executescript(schema)
    for sql, args in rows:
        db.execute(sql, args)
    db.commit()
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    db.close()
    return path


def _version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def _stamp(path: Path, version: int) -> None:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()


def test_a_v0_outbox_is_migrated_and_keeps_its_messages(tmp_path: Path) -> None:
    path = _v0(
        tmp_path / "outbox.sqlite",
        OUTBOX_V0,
        ("INSERT INTO meta VALUES ('boot', 3)", ()),
        ("INSERT INTO series VALUES ('p1', 3, 7, 1000.0)", ()),
        ("INSERT INTO msgs (device, boot, seq, prio, ts, payload) VALUES ('p1', 3, 7, 0, 1000.0, x'00')", ()),
    )
    with Outbox(OutboxSettings(path=str(path))) as box:
        assert (box.boot, box.depth()) == (4, 1)
    assert _version(path) == len(outbox_store.MIGRATIONS) == 2
    with Outbox(OutboxSettings(path=str(path))) as box:  # already current: opened as is
        assert (box.boot, box.depth()) == (5, 1)


def test_a_v0_ingest_state_is_migrated_and_keeps_marks_and_alerts(tmp_path: Path) -> None:
    path = _v0(
        tmp_path / "state.sqlite",
        STATE_V0,
        ("INSERT INTO seqmark VALUES ('p1', 1, ?)", (b"",)),
        (
            "INSERT INTO alert VALUES ('a1', 'k', 'p1', 0, 'socket_overtemp', 'critical', 'firing',"
            " 1.0, 2.0, 'hot', NULL, NULL)",
            (),
        ),
    )
    db = sqlite3.connect(path)
    db.execute("DELETE FROM seqmark")  # a mark's blob format is the tracker's; the alert is enough
    db.commit()
    db.close()
    st = IngestState(path)
    try:
        assert [a.id for a in st.alerts(open_only=True)] == ["a1"]
    finally:
        st.close()
    assert _version(path) == len(state_module.MIGRATIONS)


async def test_a_v0_spool_is_migrated_and_keeps_its_batches(tmp_path: Path) -> None:
    path = _v0(
        tmp_path / "spool.sqlite",
        SPOOL_V0,
        ("INSERT INTO batch (created, meta, n, lines) VALUES (1.0, '', 2, ?)", (b'["a","b"]',)),
    )
    async with SQLiteStore(str(tmp_path / "store.sqlite")) as store:
        sp = Spool(path, store, interval=3600.0)
        await sp.__aenter__()
        try:
            assert sp.stats().depth_lines == 2
        finally:
            await sp.aclose()
    assert _version(path) == len(spool_module.MIGRATIONS)


def test_files_from_a_newer_version_are_refused(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.sqlite"
    with Outbox(OutboxSettings(path=str(outbox))):
        pass
    _stamp(outbox, 99)
    with pytest.raises(SchemaVersionError, match=r"outbox.sqlite: agent outbox has schema version 99, newer"):
        Outbox(OutboxSettings(path=str(outbox))).open()
    state = tmp_path / "state.sqlite"
    IngestState(state).close()
    _stamp(state, 7)
    with pytest.raises(SchemaVersionError, match="gateway ingest state has schema version 7"):
        IngestState(state)
    assert _version(state) == 7  # refused, not touched
    with pytest.raises(SchemaVersionError, match="newer than this ChargeWatch knows"):
        file_version(state, "gateway ingest state", len(state_module.MIGRATIONS))


def test_the_gateway_refuses_a_newer_state_file_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    IngestState(state).close()
    _stamp(state, 5)
    config = write_yaml(
        {
            "mqtt": {"client_id": "gw-v", "url": "mqtt://127.0.0.1:1"},
            "store": {"kind": "sqlite", "path": str(tmp_path / "store.sqlite")},
            "spool": {"path": str(tmp_path / "spool.sqlite"), "state_path": str(state)},
            "http": {"port": 0},
        },
        tmp_path / "gw.yaml",
    )
    for args in (["--check"], []):
        run = cli("gateway", "--config", str(config), *args)
        assert run.returncode == 1, run
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1, run.stderr
        assert "state.sqlite: gateway ingest state has schema version 5, newer" in lines[0]


def test_migration_steps_run_in_order_each_with_its_version(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.sqlite", isolation_level=None)
    steps = ["CREATE TABLE t (a INTEGER);", "ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'x';"]
    assert migrate(db, "x", "test file", steps[:1]) == 0
    db.execute("INSERT INTO t (a) VALUES (1)")
    assert migrate(db, "x", "test file", steps) == 1
    assert db.execute("SELECT a, b FROM t").fetchall() == [(1, "x")]
    broken = [*steps, "CREATE TABLE u (a);\nINSERT INTO nowhere VALUES (1);"]
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        migrate(db, "x", "test file", broken)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2  # the failed step left nothing
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE name='u'").fetchone()[0] == 0
    db.close()


def test_the_agent_refuses_a_newer_outbox_in_one_line(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.sqlite"
    with Outbox(OutboxSettings(path=str(outbox))):
        pass
    _stamp(outbox, 3)
    config = write_yaml(
        {
            "agent_id": "a-v",
            "buses": [{"name": "b", "transport": "tcp", "port": 1,
                       "devices": [{"id": "p1", "unit": 1, "model": "cw-pile-10"}]}],
            "outbox": {"path": str(outbox)},
        },
        tmp_path / "agent.yaml",
    )  # fmt: skip
    for args in (["--check"], []):
        run = cli("agent", "--config", str(config), *args)
        assert run.returncode == 1, run
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1, run.stderr
        assert "outbox.sqlite: agent outbox has schema version 3, newer" in lines[0]

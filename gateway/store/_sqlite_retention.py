"""The SQLite store's lifecycle pass: fold raw points into rollups, delete what is past its period.

Runs on the store's worker thread (it owns the connection), one transaction per pass:

1. every bucket of ``downsample_s`` that ended at least one bucket ago and is not yet folded
   becomes one ``rollups`` row per series with ``mean_<field>`` and ``max_<field>`` of every
   numeric field (the layout of InfluxDB's ``long`` policy); the last folded bucket is folded
   again, so points arriving up to one bucket late are counted;
2. raw points older than ``raw_days`` and rollups older than ``downsampled_days`` are deleted.

The fold's progress (``rollup_mark``, ms) lives in ``store_meta``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from gateway.store.retention import DAY_S, DOWNSAMPLED, Retention

SCHEMA = """
CREATE TABLE IF NOT EXISTS rollups (
    measurement TEXT NOT NULL,
    series TEXT NOT NULL,
    ts INTEGER NOT NULL,
    tags TEXT NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (measurement, series, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS field_keys (
    measurement TEXT NOT NULL,
    field TEXT NOT NULL,
    PRIMARY KEY (measurement, field)
) WITHOUT ROWID;
"""
#: fills ``field_keys`` for a store written before it existed (once, when it is empty)
BACKFILL_KEYS = (
    "INSERT OR IGNORE INTO field_keys SELECT DISTINCT p.measurement, j.key "
    "FROM points AS p, json_each(p.fields) AS j WHERE NOT EXISTS (SELECT 1 FROM field_keys)"
)
_MARK = "rollup_mark"


@dataclass(frozen=True, slots=True)
class Pass:
    """What one maintenance pass did."""

    rollups: int
    pruned_points: int
    pruned_rollups: int


def _aggregate(rows: list[tuple[str, str, int, str]], bucket_ms: int) -> list[tuple[str, int, str, str]]:
    """(series, bucket start, tags, fields JSON) of mean/max per numeric field."""
    acc: dict[tuple[str, int], tuple[str, dict[str, list[float]]]] = {}
    for series, tags, ts, raw in rows:
        key = (series, ts - ts % bucket_ms)
        entry = acc.get(key)
        if entry is None:
            entry = acc[key] = (tags, {})
        stats = entry[1]
        for name, value in json.loads(raw).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            s = stats.get(name)
            if s is None:
                stats[name] = [float(value), 1.0, float(value)]
            else:
                s[0] += value
                s[1] += 1.0
                s[2] = max(s[2], value)
    out = []
    for (series, start), (tags, stats) in acc.items():
        fields: dict[str, float] = {}
        for name, (total, n, top) in stats.items():
            fields["mean_" + name] = total / n
            fields["max_" + name] = top
        if fields:
            out.append((series, start, tags, json.dumps(fields, separators=(",", ":"))))
    return out


def _fold(db: sqlite3.Connection, r: Retention, now_ms: int) -> int:
    bucket_ms = r.downsample_s * 1000
    upto = (now_ms // bucket_ms - 1) * bucket_ms
    got = db.execute("SELECT value FROM store_meta WHERE key = ?", [_MARK]).fetchone()
    if got is None:
        marks = "(" + ",".join("?" * len(DOWNSAMPLED)) + ")"
        oldest = db.execute(
            f"SELECT min(ts) FROM points WHERE measurement IN {marks}", DOWNSAMPLED
        ).fetchone()
        if oldest[0] is None:
            return 0
        start = int(oldest[0]) - int(oldest[0]) % bucket_ms
    else:
        start = max(0, int(got[0]) - bucket_ms)
    if start >= upto:
        return 0
    made = 0
    for measurement in DOWNSAMPLED:
        rows = db.execute(
            "SELECT series, tags, ts, fields FROM points WHERE measurement = ? AND ts >= ? AND ts < ?",
            [measurement, start, upto],
        ).fetchall()
        folded = _aggregate(rows, bucket_ms)
        db.executemany(
            "INSERT OR REPLACE INTO rollups VALUES (?, ?, ?, ?, ?)",
            [(measurement, series, ts, tags, fields) for series, ts, tags, fields in folded],
        )
        made += len(folded)
    db.execute("INSERT OR REPLACE INTO store_meta VALUES (?, ?)", [_MARK, upto])
    return made


def maintain(db: sqlite3.Connection, r: Retention, now_s: float) -> Pass:
    """One pass at ``now_s`` (epoch s): fold, then prune; one transaction."""
    now_ms = int(now_s * 1000)
    with db:
        db.execute("BEGIN")
        made = _fold(db, r, now_ms) if r.downsampled_days else 0
        raw_cut = now_ms - r.raw_days * DAY_S * 1000
        pruned = 0
        measurements = [m for (m,) in db.execute("SELECT DISTINCT measurement FROM field_keys")]
        for measurement in measurements:  # (measurement, ts) is indexed; ts alone is not
            sql = "DELETE FROM points WHERE measurement = ? AND ts < ?"
            pruned += db.execute(sql, [measurement, raw_cut]).rowcount
        long_cut = now_ms - r.downsampled_days * DAY_S * 1000
        gone = db.execute("DELETE FROM rollups WHERE ts < ?", [long_cut]).rowcount
    return Pass(made, pruned, gone)

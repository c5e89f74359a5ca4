"""The store's data lifecycle: raw points for ``raw_days``, aggregates for ``downsampled_days``.

One :class:`Retention` for every backend (README "Stored data"):

* **InfluxDB 1.x** (:meth:`InfluxV1Store.apply_retention`, at gateway start, idempotent): the
  retention policy ``raw`` (``raw_days``, the database's default, so every write and query of
  the gateway uses it) and, with ``downsampled_days``, the policy ``long`` filled by the
  continuous query ``cw_downsample_<N>s``: ``mean`` and ``max`` of every numeric field of
  :data:`DOWNSAMPLED` per ``downsample_s`` bucket and series, into ``long.<measurement>``
  (fields ``mean_<field>``, ``max_<field>``); it re-computes the last two buckets on each run
  (``RESAMPLE FOR``) so points arriving up to one bucket late are still counted.
* **VictoriaMetrics**: retention is the server's ``-retentionPeriod`` flag; downsampling is an
  enterprise feature there, so raw points are kept for the whole period instead (they cost
  ≈ 7 bytes per port-sample, README "Stored data").
* **SQLite** (:class:`SQLiteStore`): a maintenance pass on the store's worker thread folds raw
  points into ``rollups`` rows (mean/max per bucket) and deletes raw points and rollups past
  their periods.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the measurements whose points are downsampled (events, alerts, sessions are kept raw)
DOWNSAMPLED = ("port", "pile", "blocker")
RAW_RP = "raw"
LONG_RP = "long"
CQ_PREFIX = "cw_downsample_"
DAY_S = 86400


@dataclass(frozen=True, slots=True)
class Retention:
    """``raw_days`` of raw points; ``downsampled_days`` (0: none) of ``downsample_s`` aggregates."""

    raw_days: int = 90
    downsampled_days: int = 730
    downsample_s: int = 300

    def __post_init__(self) -> None:
        if self.raw_days < 1 or self.downsampled_days < 0 or self.downsample_s < 1:
            raise ValueError(f"retention periods must be positive: {self}")
        if self.downsampled_days and self.downsampled_days <= self.raw_days:
            raise ValueError(f"downsampled_days must exceed raw_days: {self}")

    @property
    def cq_name(self) -> str:
        return f"{CQ_PREFIX}{self.downsample_s}s"


def ident(name: str) -> str:
    """A double-quoted InfluxQL identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def policy_statement(db: str, name: str, days: int, exists: bool, default: bool) -> str:
    """``CREATE`` or ``ALTER RETENTION POLICY`` for ``days`` (``DEFAULT`` when asked)."""
    verb = "ALTER" if exists else "CREATE"
    text = f"{verb} RETENTION POLICY {ident(name)} ON {ident(db)} DURATION {days}d"
    if not exists:
        text += " REPLICATION 1"
    return text + (" DEFAULT" if default else "")


def downsample_query(db: str, r: Retention) -> str:
    """The continuous query folding :data:`DOWNSAMPLED` from ``raw`` into ``long``."""
    names = "|".join(DOWNSAMPLED)
    return (
        f"CREATE CONTINUOUS QUERY {ident(r.cq_name)} ON {ident(db)} "
        f"RESAMPLE FOR {2 * r.downsample_s}s BEGIN "
        f"SELECT mean(*), max(*) INTO {ident(db)}.{ident(LONG_RP)}.:MEASUREMENT "
        f"FROM {ident(db)}.{ident(RAW_RP)}./^({names})$/ GROUP BY time({r.downsample_s}s), * END"
    )

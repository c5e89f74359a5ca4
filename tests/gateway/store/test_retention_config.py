"""``store.retention`` and ``limits.max_age_s`` are validated at load; the old ``retention_s`` is
refused with a message that says what it really did and what to use instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargewatch.errors import ConfigError
from gateway.config import GatewayConfig, load_config
from gateway.store import InfluxV1Store, SQLiteStore
from gateway.wiring import make_store

BASE = "mqtt: {client_id: gw-1}\n"


def _load(tmp_path: Path, text: str) -> GatewayConfig:
    path = tmp_path / "gateway.yaml"
    path.write_text(BASE + text)
    return load_config(path)


def test_defaults_and_the_shipped_example(tmp_path: Path) -> None:
    cfg = load_config(Path(__file__).resolve().parents[3] / "configs" / "gateway.example.yaml")
    r = cfg.store.retention
    assert (r.raw_days, r.downsampled_days, r.downsample_s, r.manage) == (90, 730, 300, True)
    assert cfg.max_age_s == 90 * 86400.0  # max_age_s follows the raw retention unless set
    store = make_store(cfg.store)
    assert isinstance(store, InfluxV1Store)
    assert store.retention is not None
    assert store.retention.cq_name == "cw_downsample_300s"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("limits: {retention_s: 34560000}\n", "limits.retention_s was renamed limits.max_age_s"),
        ("limits: {max_age_s: 8000000}\n", "accepts messages older than store.retention.raw_days"),
        ("store: {retention: {raw_days: 30, downsampled_days: 30}}\n", "must exceed raw_days"),
        ("store: {retention: {downsample_s: 700}}\n", "does not divide a day"),
        ("store: {retention: {raw_days: 0}}\n", ">= 1"),
        ("store: {retention: {keep: 3}}\n", "unknown field `keep`"),
    ],
)
def test_bad_retention_is_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text)


def test_manage_false_leaves_retention_to_the_server(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        "store: {kind: sqlite, path: s.sqlite, retention: {manage: false}}\nlimits: {max_age_s: 3600}\n",
    )
    store = make_store(cfg.store)
    assert isinstance(store, SQLiteStore)
    assert store.retention is None
    assert cfg.max_age_s == 3600

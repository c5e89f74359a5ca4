"""commands.trusted_keys: key files relative to the config, allow-lists checked against the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargewatch.errors import ConfigError
from chargewatch.signing import write_keypair
from edge_agent.config import load_config
from tests.agent.poll.test_config import GOOD


def _with_keys(tmp_path: Path, keys: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        GOOD.replace("  allow: [relay_on, remote_release]\n", f"  allow: [relay_on, remote_release]\n{keys}")
    )
    return path


def test_trusted_key_is_loaded_relative_to_the_config(tmp_path: Path) -> None:
    write_keypair(tmp_path / "keys", "gw-1")
    entry = "{id: gw-1, public_key_file: keys/gw-1.pub, points: [relay_on], devices: [p1]}"
    keys = f"  trusted_keys:\n    - {entry}\n"
    loaded = load_config(_with_keys(tmp_path, keys))
    assert [(k.key_id, k.points, k.devices) for k in loaded.keys] == [
        ("gw-1", frozenset({"relay_on"}), frozenset({"p1"}))
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{id: gw-1, public_key_file: keys/gw-1.pub, points: [alarm_reset], devices: ['*']}",
            "not in commands.allow",
        ),
        ("{id: gw-1, public_key_file: keys/gw-1.pub, points: [relay_on], devices: [p7]}", "no device 'p7'"),
        ("{id: gw-1, public_key_file: keys/none.pub, points: [relay_on], devices: ['*']}", "cannot read"),
        (
            "{id: gw-1, public_key_file: keys/gw-1.key, points: [relay_on], devices: ['*']}",
            "not a PEM public key",
        ),
    ],
)
def test_bad_trusted_key_names_the_key(tmp_path: Path, entry: str, message: str) -> None:
    write_keypair(tmp_path / "keys", "gw-1")
    with pytest.raises(ConfigError, match=message) as err:
        load_config(_with_keys(tmp_path, f"  trusted_keys:\n    - {entry}\n"))
    assert "commands.trusted_keys[0]" in str(err.value)

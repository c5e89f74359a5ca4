"""Bad agent configs stop start-up with a message naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargewatch.errors import ConfigError
from edge_agent.config import SerialBus, TcpBus, load_config

GOOD = """
agent_id: a1
buses:
  - name: b1
    transport: tcp
    port: 5020
    timeout_s: 0.2
    retries: 1
    devices:
      - {id: p1, unit: 1, model: cw-pile-10, poll_s: 1.0}
      - {id: k1, unit: 2, model: cw-blocker, poll_s: 1.0}
  - name: line
    transport: rtu
    serial_port: /dev/ttyUSB0
    devices:
      - {id: p2, unit: 1, model: vx-pile-12, poll_s: 2.0}
commands:
  allow: [relay_on, remote_release]
outbox: {path: /tmp/x.sqlite3}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    return path


def test_good_config_loads_profiles_and_bus_kinds(tmp_path: Path) -> None:
    loaded = load_config(_write(tmp_path, GOOD))
    assert isinstance(loaded.agent.buses[0], TcpBus)
    assert isinstance(loaded.agent.buses[1], SerialBus)
    assert set(loaded.profiles) == {"cw-pile-10", "cw-blocker", "vx-pile-12"}
    assert loaded.agent.mqtt is None


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[3] / "configs" / "agent.example.yaml"
    loaded = load_config(example)
    assert loaded.agent.mqtt is not None
    assert [b.name for b in loaded.agent.buses] == ["pile-a1", "pile-a2", "pile-b1", "lift-1"]


def test_an_mqtt_key_under_its_old_name_names_the_new_one(tmp_path: Path) -> None:
    cfg = GOOD + "mqtt:\n  url: mqtt://127.0.0.1:1883\n  client_id: a1\n  status_interval: 5\n"
    path = _write(tmp_path, cfg)
    with pytest.raises(
        ConfigError, match=r"`mqtt\.status_interval` was renamed\. Fix: write `mqtt\.status_interval_s`"
    ):
        load_config(path)
    fixed = load_config(_write(tmp_path, cfg.replace("status_interval:", "status_interval_s:")))
    assert fixed.agent.mqtt is not None
    assert fixed.agent.mqtt.status_interval_s == 5.0


@pytest.mark.parametrize(
    ("old", "new", "key", "fix"),
    [
        ("    port: 5020\n", "    port: 5020\n    colour: red\n", "colour", "remove that key"),
        ("{id: k1, unit: 2,", "{id: k1, unit: 1,", "devices[1] (k1).unit", "own unit id"),
        ("    timeout_s: 0.2\n", "    timeout_s: 0.6\n", "devices[0] (p1).poll_s", "raise poll_s"),
        ("model: cw-blocker", "model: no-such-model", "devices[1] (k1).model", "chargewatch/devices/"),
        ("allow: [relay_on, remote_release]", "allow: [relay_on, state]", "commands.allow[1]", "writable"),
        ("allow: [relay_on, remote_release]", "allow: [relay_onn]", "commands.allow[0]", "spelling"),
        ("    retries: 1\n", "    retries: 1\n    backoff_cap_s: 120\n", "backoff_cap_s", "between"),
        ("{id: p2, unit: 1,", "{id: p1, unit: 1,", "devices[0].id", "unique id"),
        (
            "    serial_port: /dev/ttyUSB0\n",
            "    serial_port: /dev/ttyUSB0\n    parity: X\n",
            "parity",
            "Fix",
        ),
        ("outbox: {path: /tmp/x.sqlite3}\n", "", "outbox", "Fix"),
    ],
)
def test_bad_config_names_file_key_and_fix(tmp_path: Path, old: str, new: str, key: str, fix: str) -> None:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert fix in message
    assert "Fix:" in message


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "agent_id: [unclosed\n"))

"""MqttSettings / OutboxSettings validation: secrets never in YAML, clear messages."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from chargewatch.errors import ConfigError
from edge_agent.mqtt import MqttSettings, mqtt_settings
from edge_agent.outbox import OutboxSettings


def test_password_key_is_rejected_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"agent\.yaml: mqtt: mqtt\.password must not.*password_env"):
        mqtt_settings({"url": "mqtt://h:1883", "client_id": "a", "password": "x"}, "agent.yaml")


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"url": "http://h:1", "client_id": "a"}, "mqtt://host:port"),
        ({"url": "mqtt://u:p@h:1", "client_id": "a"}, "credentials"),
        ({"url": "mqtt://h:1", "client_id": "a b"}, "client_id"),
        ({"url": "mqtt://h:1"}, "client_id"),
        ({"url": "mqtt://h:1", "client_id": "a", "ca_file": "/ca"}, "mqtts"),
        ({"url": "mqtts://h", "client_id": "a", "cert_file": "/c"}, "key_file"),
        ({"url": "mqtt://h", "client_id": "a", "password_env": "X"}, "username"),
        ({"url": "mqtt://h", "client_id": "a", "backoff_cap_s": 120}, "backoff_cap"),
        (
            {"url": "mqtt://h", "client_id": "a", "keepalive": 30},
            "`keepalive` was renamed. Fix: write `keepalive_s`",
        ),
        ({"url": "mqtt://h", "client_id": "a", "backoff_cap": 5}, "Fix: write `backoff_cap_s`"),
        ({"url": "mqtt://h", "client_id": "a", "clean_session": False}, "`clean_session` was removed"),
        ({"url": "mqtt://h", "client_id": "a", "keepalive_s": 2}, "keepalive_s"),
        ({"url": "mqtt://h", "client_id": "gw-random-1"}, "stable"),
    ],
)
def test_bad_settings_name_the_key(raw: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        mqtt_settings(raw, "agent.yaml")


def test_url_parts_and_password_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = MqttSettings(url="mqtts://broker.example", client_id="a", username="u", password_env="CW_PW")  # noqa: S106 -- a variable name
    assert (s.host, s.port, s.tls) == ("broker.example", 8883, True)
    with pytest.raises(ConfigError, match="CW_PW"):
        s.resolve_password()
    monkeypatch.setenv("CW_PW", "s3cret")
    assert s.resolve_password() == "s3cret"
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    f = MqttSettings(url="mqtt://h:1884", client_id="a", username="u", password_file=str(secret))
    assert (f.port, f.tls, f.resolve_password()) == (1884, False, "from-file")


def test_outbox_settings_reject_unknown_policy() -> None:
    with pytest.raises(msgspec.ValidationError, match="full_policy"):
        msgspec.convert({"path": "x", "full_policy": "drop_newest"}, OutboxSettings)

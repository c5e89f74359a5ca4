"""MQTT settings, embedded in the agent YAML under ``mqtt:`` and validated once at start-up.

The password is never written in YAML: name an environment variable (``password_env``) or a
file (``password_file``); a ``password:`` key is rejected with the fix in the message. TLS files
(``ca_file``, ``cert_file`` + ``key_file``, only with ``mqtts://``) are loaded once here, so a
missing, unreadable or mismatched file stops start-up instead of failing every reconnect.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from chargewatch.errors import ConfigError
from chargewatch.messages import ID_PATTERN
from chargewatch.mqtt_transport import check_tls_files

ClientId = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class MqttSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Broker endpoint, credentials and session of the agent's MQTT link.

    The session is persistent (MQTT 5, clean start off, ``session_expiry`` seconds) under the
    stable ``client_id``; with ``protocol: "3.1.1"`` (for brokers without MQTT 5, such as the
    demo's embedded broker) it is a clean-session-false 3.1.1 session whose expiry the broker sets.
    Reconnects back off exponentially with jitter from
    ``backoff_initial`` up to ``backoff_cap`` (≤ 60 s). ``status_interval`` is how often the
    retained status (with health) is refreshed; ``command_timeout`` bounds one command's callback.
    """

    url: str
    client_id: ClientId
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    session_expiry: Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)] = 86_400
    protocol: Literal["5", "3.1.1"] = "5"
    connect_timeout: Annotated[float, msgspec.Meta(gt=0, le=120)] = 10.0
    backoff_initial: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.5
    backoff_cap: Annotated[float, msgspec.Meta(gt=0, le=60)] = 60.0
    status_interval: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    max_inflight: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 20
    command_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0

    def __post_init__(self) -> None:
        if self.password is not None:
            raise ValueError(
                "`password` must not be written in the config: put the secret in an environment "
                "variable and name it in `password_env`, or in a file named by `password_file`"
            )
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("set only one of `password_env` and `password_file`")
        if (self.password_env or self.password_file) and not self.username:
            raise ValueError("a password (`password_env`/`password_file`) needs `username`")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("`cert_file` and `key_file` go together: set both or neither")
        if self.backoff_cap < self.backoff_initial:
            raise ValueError("`backoff_cap` must be >= `backoff_initial`")
        parts = urlsplit(self.url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"`url` {self.url!r} must look like mqtt://host:port or mqtts://host:port")
        if parts.username or parts.password:
            raise ValueError("`url` must not carry credentials: use `username` and `password_env`")
        if parts.scheme == "mqtt" and (self.ca_file or self.cert_file):
            raise ValueError("`ca_file`/`cert_file` need TLS: use an mqtts:// url")
        if self.tls:
            self._check_tls_files()

    def _check_tls_files(self) -> None:
        check_tls_files(
            self.ca_file, self.cert_file, self.key_file, name=lambda key: f"`{key}`", user="agent"
        )

    @property
    def host(self) -> str:
        host = urlsplit(self.url).hostname
        assert host is not None  # checked in __post_init__
        return host

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or _DEFAULT_PORTS[parts.scheme]

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    def resolve_password(self) -> str | None:
        """The secret from the named env var or file; ConfigError names which one is missing."""
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"mqtt.password_env: environment variable {self.password_env!r} is not set. "
                    "Fix: export it before starting the agent"
                )
            return value
        if self.password_file is not None:
            try:
                return Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"mqtt.password_file: cannot read {self.password_file!r}: {exc}. "
                    "Fix: create it readable by the agent user only"
                ) from exc
        return None


def mqtt_settings(raw: object, source: str = "<config>") -> MqttSettings:
    """Validate a decoded ``mqtt:`` mapping; ConfigError names ``source``, the key and the fix."""
    try:
        return msgspec.convert(raw, MqttSettings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: mqtt: {exc}") from exc

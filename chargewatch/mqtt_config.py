"""The ``mqtt:`` section of the agent's and the gateway's config: one schema, the same keys.

:class:`MqttConfig` holds what both need to reach the broker — ``url`` (``mqtt://`` or
``mqtts://``), a stable ``client_id`` (the broker keeps the persistent session under it),
``username`` with the password's source (``password_env`` or ``password_file``; a
``password:`` key is rejected: secrets are never written in YAML), the TLS files (``ca_file``,
``cert_file`` + ``key_file``, only with ``mqtts://``, loaded once at start-up), ``keepalive_s``
and ``connect_timeout_s``. The agent's link adds its own keys in a subclass. Validation runs
once, when the config is decoded; a key under its old name is an error that names the new one
(:data:`RENAMED`, :func:`old_keys`, used by :func:`chargewatch.configfile.decode_file`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import msgspec

from chargewatch.errors import ConfigError
from chargewatch.messages import ID_PATTERN
from chargewatch.mqtt_transport import Endpoint, check_tls_files

__all__ = ["REMOVED", "RENAMED", "ClientId", "MqttConfig", "old_keys"]

ClientId = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_RANDOM_ID = re.compile(r"(random|uuid|auto|\{.*\}|\$)", re.IGNORECASE)

#: ``mqtt:`` keys under their former names (agent or gateway) -> the key that replaced them
RENAMED: dict[str, str] = {
    "keepalive": "keepalive_s",
    "connect_timeout": "connect_timeout_s",
    "session_expiry": "session_expiry_s",
    "backoff_initial": "backoff_initial_s",
    "backoff_cap": "backoff_cap_s",
    "status_interval": "status_interval_s",
    "command_timeout": "command_timeout_s",
}
#: former ``mqtt:`` keys that are gone -> why
REMOVED: dict[str, str] = {"clean_session": "the session is always persistent"}


def old_keys(prefix: str = "mqtt.") -> dict[str, str]:
    """For :func:`chargewatch.configfile.decode_file`: each former key (with ``prefix``) -> the
    message that replaces msgspec's "unknown field"."""
    hints = {
        f"{prefix}{old}": f"`{prefix}{old}` was renamed. Fix: write `{prefix}{new}`"
        for old, new in RENAMED.items()
    }
    hints.update(
        {
            f"{prefix}{old}": f"`{prefix}{old}` was removed ({why}). Fix: delete it"
            for old, why in REMOVED.items()
        }
    )
    return hints


class MqttConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Broker endpoint, credentials and timeouts shared by the agent and the gateway."""

    url: str = "mqtt://127.0.0.1:1883"
    client_id: ClientId
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    connect_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=120)] = 10.0

    def __post_init__(self) -> None:
        if self.password is not None:
            raise ValueError(
                "mqtt.password must not be written in the config. Fix: put the secret in an "
                "environment variable named by mqtt.password_env, or in a file named by mqtt.password_file"
            )
        if self.password_env and self.password_file:
            raise ValueError("set only one of mqtt.password_env and mqtt.password_file")
        if (self.password_env or self.password_file) and not self.username:
            raise ValueError("a password (mqtt.password_env/password_file) needs mqtt.username")
        if _RANDOM_ID.search(self.client_id):
            raise ValueError(
                f"mqtt.client_id {self.client_id!r} is not a stable id: a persistent session needs the "
                "same id on every start. Fix: use a fixed [A-Za-z0-9_-] name"
            )
        parts = urlsplit(self.url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"mqtt.url {self.url!r} must be mqtt://host:port or mqtts://host:port")
        if parts.username or parts.password:
            raise ValueError(
                "mqtt.url must not carry credentials. Fix: use mqtt.username and mqtt.password_env"
            )
        given = [key for key in ("ca_file", "cert_file", "key_file") if getattr(self, key)]
        if given and not self.tls:
            raise ValueError(
                f"mqtt.{given[0]} is set but mqtt.url {self.url!r} is not TLS. "
                "Fix: use an mqtts://host:port url, or remove the TLS options"
            )
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError(
                "mqtt.cert_file and mqtt.key_file go together. Fix: set both (client certificate "
                "and its key) or neither"
            )
        if self.tls:
            check_tls_files(
                self.ca_file or None,
                self.cert_file or None,
                self.key_file or None,
                name=lambda key: f"mqtt.{key}",
                user="process",
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
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"mqtt.password_env: environment variable {self.password_env!r} is not set. "
                    "Fix: export it before starting"
                )
            return value
        if self.password_file:
            try:
                return Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"mqtt.password_file: cannot read {self.password_file!r}: {exc}. "
                    "Fix: create it readable by this process's user only"
                ) from exc
        return None

    def endpoint(self, *, password: str | None = None, **session: object) -> Endpoint:
        """The :class:`Endpoint` for this broker; ``session`` adds the caller's session fields
        (``mqtt5``, ``session_expiry``, ``max_inflight``, ``will`` …). The password is the
        configured one (:meth:`resolve_password`) unless ``password`` is given."""
        return Endpoint(
            host=self.host,
            port=self.port,
            client_id=self.client_id,
            keepalive=self.keepalive_s,
            connect_timeout=self.connect_timeout_s,
            username=self.username or None,
            password=password if password is not None else self.resolve_password(),
            tls=self.tls,
            ca_file=self.ca_file or None,
            cert_file=self.cert_file or None,
            key_file=self.key_file or None,
            setting_prefix="mqtt.",
            **session,  # type: ignore[arg-type]
        )

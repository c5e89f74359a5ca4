"""Gateway configuration: one YAML file, validated once at start-up.

Unknown keys are rejected; every error names the file, the key and the fix. Secrets never
live in the YAML: the MQTT password and the store token are read from an environment variable
or a file named in the config. MQTT over TLS (``mqtts://``) names its PEM files in ``ca_file``
and, for a client certificate, ``cert_file`` + ``key_file``; they are loaded once here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from analytics.sessions import Tariff
from chargewatch.configfile import decode_file
from chargewatch.errors import ConfigError
from chargewatch.mqtt_transport import check_tls_files
from chargewatch.profiles import load_profiles, profile_dirs

_ID = r"^[A-Za-z0-9_-]{1,64}$"
_RANDOM_ID = re.compile(r"(random|uuid|auto|\{.*\}|\$)", re.IGNORECASE)
Positive = Annotated[float, msgspec.Meta(gt=0)]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class MqttConfig(_Section):
    """Broker connection; the session is persistent (clean_session false, stable client_id)."""

    url: str = "mqtt://127.0.0.1:1883"
    client_id: str = ""
    clean_session: bool = False
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    connect_timeout_s: Positive = 10.0
    #: mqtts only: CA that signed the broker's certificate ('' = the system CAs)
    ca_file: str = ""
    #: mqtts only: client certificate and its unencrypted key, both or neither
    cert_file: str = ""
    key_file: str = ""

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)


class StoreConfig(_Section):
    """Time-series store; the token comes from ``token_env``."""

    kind: Literal["influx_v1", "influx_v2", "sqlite"] = "influx_v1"
    url: str = "http://127.0.0.1:8086"
    db: str = "chargewatch"
    org: str = ""
    bucket: str = ""
    token_env: str = ""
    path: str = ""


class SpoolConfig(_Section):
    """Durable spool and ingest state (dedupe marks, dead letters, alerts, analytics checkpoint)."""

    path: str = "var/gateway/spool.sqlite"
    state_path: str = "var/gateway/state.sqlite"
    degraded_after_s: Positive = 45.0
    analytics_path: str = "var/gateway/analytics.ckpt"


class HttpConfig(_Section):
    """The HTTP API and dashboard. Reads are open; acknowledging an alert needs the bearer
    token from ``token_env`` or ``token_file`` when one is configured, and binding beyond
    loopback is refused without one."""

    bind: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    token_env: str = ""
    token_file: str = ""


class LimitsConfig(_Section):
    """Validation and flow limits."""

    max_future_skew_s: Positive = 300.0
    retention_s: Positive = 400 * 86400.0
    #: readings older than this on arrival are stored and counted but never open or resolve an alert
    stale_after_s: Annotated[float, msgspec.Meta(ge=10)] = 300.0
    gap_timeout_s: Positive = 30.0
    ack_interval_s: Annotated[float, msgspec.Meta(gt=0, le=5)] = 0.15
    batch_max: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 2000
    dead_letter_payload_bytes: Annotated[int, msgspec.Meta(ge=64, le=65536)] = 2048
    dead_letter_keep: Annotated[int, msgspec.Meta(ge=100)] = 100_000


class LivenessConfig(_Section):
    """A device silent for ``offline_factor`` × ``device_keepalive_s`` is offline."""

    device_keepalive_s: Positive = 60.0
    offline_factor: Annotated[float, msgspec.Meta(ge=1.0, le=1.5)] = 1.5
    tick_s: Positive = 1.0


class ThresholdRuleConfig(_Section):
    """The gateway's built-in rule: ``point`` above ``limit`` for ``samples`` samples in a row."""

    point: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,47}$")] = "socket_temp"
    limit: float = 80.0
    clear_below: float = 70.0
    samples: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 3


class CommandsConfig(_Section):
    """Signed operator commands (chargewatch.signing). Without a key the gateway sends none."""

    signing_key_file: str = ""
    """Ed25519 private key from ``chargewatch keygen`` (mode 0600); agents trust its ``.pub``."""
    key_id: Annotated[str, msgspec.Meta(pattern=_ID)] = "gateway"
    """The key id agents list under ``commands.trusted_keys[].id``."""
    ttl_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    """How long a command stays valid (agents refuse more than their ``max_validity_s``)."""


class GatewayConfig(_Section):
    site: Annotated[str, msgspec.Meta(pattern=_ID)] = "default"
    #: ``pipeline``: analytics.Pipeline (detectors, rules, sessions); ``threshold``: the rule below only
    analytics: Literal["pipeline", "threshold"] = "pipeline"
    checkpoint_every_s: Positive = 60.0
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    spool: SpoolConfig = msgspec.field(default_factory=SpoolConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    liveness: LivenessConfig = msgspec.field(default_factory=LivenessConfig)
    rule: ThresholdRuleConfig = msgspec.field(default_factory=ThresholdRuleConfig)
    #: the site's posted charging tariff (fees of the ``session`` points; see analytics.sessions.tariff)
    tariff: Tariff = msgspec.field(default_factory=Tariff)
    #: extra device-profile folders (relative to this file) besides the bundled chargewatch/devices
    profile_dirs: list[str] = msgspec.field(default_factory=list)
    commands: CommandsConfig = msgspec.field(default_factory=CommandsConfig)


def _secret(where: str, env: str, file: str, key: str) -> str:
    if env and file:
        raise ConfigError(f"{where}: set only one of {key}_env and {key}_file")
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{where}: {key}_env names ${env}, which is not set. Fix: export it")
        return value
    if file:
        try:
            return Path(file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{where}: {key}_file {file!r} cannot be read: {exc}") from exc
    return ""


def mqtt_password(cfg: MqttConfig) -> str:
    """The MQTT password from the environment or a file ('' when none is configured)."""
    return _secret("mqtt", cfg.password_env, cfg.password_file, "password")


def store_token(cfg: StoreConfig) -> str:
    """The store token from the environment ('' when none is configured)."""
    return _secret("store", cfg.token_env, "", "token")


def api_token(cfg: HttpConfig) -> str:
    """The API's bearer token from the environment or a file ('' when none is configured)."""
    return _secret("http", cfg.token_env, cfg.token_file, "token")


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def validate_config(cfg: GatewayConfig, where: str) -> GatewayConfig:
    """Cross-field checks; ConfigError names ``where`` (the file), the key and the fix."""
    m = cfg.mqtt
    if m.clean_session:
        raise ConfigError(
            f"{where}: mqtt.clean_session is true: the broker would drop queued QoS 1 messages "
            "while the gateway is away. Fix: set it to false"
        )
    if not m.client_id:
        raise ConfigError(f"{where}: mqtt.client_id is empty. Fix: set a stable id, e.g. cw-gateway-1")
    if not re.match(_ID, m.client_id) or _RANDOM_ID.search(m.client_id):
        raise ConfigError(
            f"{where}: mqtt.client_id {m.client_id!r} is not a stable id: a persistent session needs "
            "the same id on every start. Fix: use a fixed [A-Za-z0-9_-]{1,64} name"
        )
    scheme = urlsplit(m.url).scheme
    if scheme not in {"mqtt", "mqtts"}:
        raise ConfigError(f"{where}: mqtt.url {m.url!r} must be mqtt://host:port or mqtts://host:port")
    _check_mqtt_tls(m, where)
    if cfg.store.kind in {"influx_v1", "influx_v2"} and urlsplit(cfg.store.url).scheme not in {
        "http",
        "https",
    }:
        raise ConfigError(f"{where}: store.url {cfg.store.url!r} must be http(s)://host:port")
    if cfg.store.kind == "influx_v2" and not (cfg.store.org and cfg.store.bucket):
        raise ConfigError(f"{where}: store.kind influx_v2 needs store.org and store.bucket")
    if cfg.store.kind == "sqlite" and not cfg.store.path:
        raise ConfigError(f"{where}: store.kind sqlite needs store.path (the database file)")
    if cfg.http.bind not in _LOOPBACK and not (cfg.http.token_env or cfg.http.token_file):
        raise ConfigError(
            f"{where}: http.bind {cfg.http.bind!r} exposes the API beyond this machine without a "
            "token. Fix: set http.token_env or http.token_file, or bind to 127.0.0.1"
        )
    if cfg.limits.stale_after_s >= cfg.limits.retention_s:
        raise ConfigError(
            f"{where}: limits.stale_after_s ({cfg.limits.stale_after_s:g}) must be below "
            f"limits.retention_s ({cfg.limits.retention_s:g}). Fix: lower it, e.g. to 300"
        )
    if cfg.rule.clear_below > cfg.rule.limit:
        raise ConfigError(f"{where}: rule.clear_below must not exceed rule.limit (hysteresis)")
    try:
        dirs = profile_dirs(cfg.profile_dirs, Path(where).parent)
        load_profiles(dirs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    cfg.profile_dirs = [str(d) for d in dirs]
    return cfg


def _check_mqtt_tls(m: MqttConfig, where: str) -> None:
    """TLS options only with mqtts, cert and key together, every file readable and loadable."""
    files = {"ca_file": m.ca_file, "cert_file": m.cert_file, "key_file": m.key_file}
    given = [key for key, name in files.items() if name]
    if given and not m.tls:
        raise ConfigError(
            f"{where}: mqtt.{given[0]} is set but mqtt.url {m.url!r} is not TLS. "
            "Fix: use an mqtts://host:port url, or remove the TLS options"
        )
    if bool(m.cert_file) != bool(m.key_file):
        raise ConfigError(
            f"{where}: mqtt.cert_file and mqtt.key_file go together. Fix: set both (client "
            "certificate and its key) or neither"
        )
    try:
        check_tls_files(m.ca_file, m.cert_file, m.key_file, name=lambda key: f"mqtt.{key}", user="gateway")
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def load_config(path: Path | str) -> GatewayConfig:
    """Read and validate the gateway YAML file."""
    cfg = decode_file(path, GatewayConfig, "gateway config", "configs/gateway.example.yaml")
    return validate_config(cfg, str(path))

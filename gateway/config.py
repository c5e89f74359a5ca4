"""Gateway configuration: one YAML file, validated once at start-up.

Unknown keys are rejected; every error names the file, the key and the fix. Secrets never
live in the YAML: the MQTT password and the store token are read from an environment variable
or a file named in the config. The ``mqtt:`` section is :class:`chargewatch.mqtt_config.MqttConfig`,
the same schema and keys as the agent's (TLS files included, loaded once at start-up).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from analytics import PipelineConfig
from analytics.sessions import Tariff
from chargewatch.configfile import decode_file
from chargewatch.errors import ConfigError
from chargewatch.mqtt_config import MqttConfig, old_keys
from chargewatch.profiles import load_profiles, profile_dirs
from gateway.users import ApiUser, ReadPolicy, UserConfig, check_access, check_tokens, resolve

_ID = r"^[A-Za-z0-9_-]{1,64}$"
Positive = Annotated[float, msgspec.Meta(gt=0)]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class RetentionConfig(_Section):
    """How long the store keeps data (README "Stored data").

    Raw points are kept ``raw_days``; per-``downsample_s`` aggregates (mean and max of every
    numeric field of ``port``, ``pile`` and ``blocker``) are kept ``downsampled_days`` (0: none).
    ``manage: false`` leaves retention to the server's own setup (e.g. InfluxDB 2.x/3.x buckets,
    whose v1-compatibility API has no retention policies)."""

    raw_days: Annotated[int, msgspec.Meta(ge=1, le=36500)] = 90
    downsampled_days: Annotated[int, msgspec.Meta(ge=0, le=36500)] = 730
    downsample_s: Annotated[int, msgspec.Meta(ge=60, le=86400)] = 300
    manage: bool = True


class StoreConfig(_Section):
    """Time-series store; the token comes from ``token_env``."""

    kind: Literal["influx_v1", "influx_v2", "sqlite"] = "influx_v1"
    url: str = "http://127.0.0.1:8086"
    db: str = "chargewatch"
    org: str = ""
    bucket: str = ""
    token_env: str = ""
    path: str = ""
    #: influx_v2 (VictoriaMetrics): its -maxLabelValueLen; longer text fields are cut to it
    max_label_value_len: Annotated[int, msgspec.Meta(ge=256, le=1_048_576)] = 16384
    retention: RetentionConfig = msgspec.field(default_factory=RetentionConfig)


class SpoolConfig(_Section):
    """Durable spool and ingest state (dedupe marks, dead letters, alerts, analytics checkpoint)."""

    path: str = "var/gateway/spool.sqlite"
    state_path: str = "var/gateway/state.sqlite"
    degraded_after_s: Positive = 45.0
    analytics_path: str = "var/gateway/analytics.ckpt"


class HttpConfig(_Section):
    """The HTTP API and dashboard, and who may use it (gateway.users, gateway.api.auth).

    ``read: auto`` needs a login to read when ``bind`` is beyond loopback, ``login`` always.
    Without ``users`` (loopback only) anyone on this machine may act, with the anti-CSRF header."""

    bind: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    read: ReadPolicy = "auto"
    users: list[UserConfig] = msgspec.field(default_factory=list)
    #: failed logins a client (IP address) may make per minute before it gets 429 for a while
    auth_failures_per_min: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 10
    #: the former single shared token; refused with the migration to ``users`` (gateway.users)
    token_env: str = ""
    token_file: str = ""


class LimitsConfig(_Section):
    """Validation and flow limits."""

    max_future_skew_s: Positive = 300.0
    #: a message whose source ts is older than this is dead-lettered ``too_old``; unset: the
    #: store's raw retention (``store.retention.raw_days``), beyond which it could not be kept
    max_age_s: Positive | None = None
    #: the former name of ``max_age_s``; refused with a message saying so (see validate_config)
    retention_s: Positive | None = None
    #: readings older than this on arrival are stored and counted but never open or resolve an alert
    stale_after_s: Annotated[float, msgspec.Meta(ge=10)] = 300.0
    gap_timeout_s: Positive = 30.0
    ack_interval_s: Annotated[float, msgspec.Meta(gt=0, le=5)] = 0.15
    batch_max: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 2000
    dead_letter_payload_bytes: Annotated[int, msgspec.Meta(ge=64, le=65536)] = 2048
    dead_letter_keep: Annotated[int, msgspec.Meta(ge=100)] = 100_000
    #: per device id (topic), before decoding; over it → dead letter rate_limited
    #: (defaults: an agent's backlog drain, 2,000 msgs/s, passes whole; one device's long
    #: backlog drains at 200/s after a 4,000-message burst, the rest is re-sent later)
    device_msgs_per_s: Positive = 200.0
    device_burst: Annotated[float, msgspec.Meta(ge=1)] = 4000.0
    #: per agent: its status plus every device its last status listed
    agent_msgs_per_s: Positive = 2000.0
    agent_burst: Annotated[float, msgspec.Meta(ge=1)] = 40000.0
    #: device ids never accepted before that may start sending per minute / in all
    new_devices_per_min: Annotated[int, msgspec.Meta(ge=1)] = 60
    max_devices: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 10_000
    #: dead-letter rows kept per (reason, source) and minute for refused floods; the rest counted
    dead_letter_sample_per_min: Annotated[int, msgspec.Meta(ge=1)] = 20
    #: a known device not refused for this long is read on the trusted MQTT session (routing.py)
    trust_after_s: Positive = 30.0
    #: steady rate of a trusted device: faster (a backlog drain, a flood) and it is read on the
    #: discovery session again — its messages are still accepted up to device_msgs_per_s there
    steady_msgs_per_s: Positive = 10.0
    steady_burst: Annotated[float, msgspec.Meta(ge=1)] = 50.0
    #: messages a second the discovery session reads at most (new and distrusted ids, floods);
    #: beyond it the broker drops that session's excess, never the trusted session's
    discovery_read_per_s: Positive = 3000.0


class LivenessConfig(_Section):
    """A device silent for ``offline_factor`` × ``device_keepalive_s`` is offline.

    A seq gap waits while the device's agent may still hold the missing messages (its status
    reports rows from before the gap, or it is offline), at most ``drain_max_s``: the agent's
    ``reconnect_drain_delay_max`` plus the time to send the backlog plus one status interval."""

    device_keepalive_s: Positive = 60.0
    offline_factor: Annotated[float, msgspec.Meta(ge=1.0, le=1.5)] = 1.5
    tick_s: Positive = 1.0
    drain_max_s: Positive = 210.0


class ThresholdRuleConfig(_Section):
    """The gateway's built-in rule: ``point`` above ``limit`` for ``samples`` samples in a row."""

    point: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,47}$")] = "socket_temp"
    limit: float = 80.0
    clear_below: float = 70.0
    samples: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 3


Severity = Literal["info", "warning", "critical"]


class NotifyRetryConfig(_Section):
    """The shared backoff (chargewatch.retry) around each notification POST."""

    attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5
    initial_s: Positive = 1.0
    cap_s: Positive = 30.0


class AlertmanagerConfig(_Section):
    """Prometheus Alertmanager (``POST {url}/api/v2/alerts``); firing alerts re-posted every ``resend_s``."""

    url: str = "http://127.0.0.1:9093"
    resend_s: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 60.0
    min_severity: Severity = "info"


class WeComConfig(_Section):
    """企业微信群机器人; the robot key comes from ``key_env`` or ``key_file``."""

    url: str = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
    key_env: str = ""
    key_file: str = ""
    min_severity: Severity = "warning"


class DingTalkConfig(_Section):
    """钉钉群机器人; access token and (optional) signing secret from env vars or files."""

    url: str = "https://oapi.dingtalk.com/robot/send"
    access_token_env: str = ""
    access_token_file: str = ""
    secret_env: str = ""
    secret_file: str = ""
    min_severity: Severity = "warning"


class WebhookConfig(_Section):
    """Any HTTP endpoint receiving the alerts as JSON; optional bearer token."""

    url: str = ""
    token_env: str = ""
    token_file: str = ""
    min_severity: Severity = "info"


class NotifyConfig(_Section):
    """Where alert changes are sent (every channel optional; none configured = none sent)."""

    #: the dashboard's address as people reach it: links read {public_url}/#/alerts/{id}
    #: ('' = http://127.0.0.1:{http.port})
    public_url: str = ""
    group_s: Positive = 30.0
    rate_limit_s: Positive = 600.0
    max_items: Annotated[int, msgspec.Meta(ge=1, le=50)] = 10
    queue_max: Annotated[int, msgspec.Meta(ge=10, le=1_000_000)] = 1000
    timeout_s: Positive = 10.0
    retry: NotifyRetryConfig = msgspec.field(default_factory=NotifyRetryConfig)
    alertmanager: AlertmanagerConfig | None = None
    wecom: WeComConfig | None = None
    dingtalk: DingTalkConfig | None = None
    webhook: WebhookConfig | None = None


class CommandsConfig(_Section):
    """Signed operator commands (chargewatch.signing). Without a key the gateway sends none."""

    signing_key_file: str = ""
    """Ed25519 private key from ``chargewatch keygen`` (mode 0600); agents trust its ``.pub``."""
    key_id: Annotated[str, msgspec.Meta(pattern=_ID)] = "gateway"
    """The key id agents list under ``commands.trusted_keys[].id``."""
    ttl_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    """How long a command stays valid (agents refuse more than their ``max_validity_s``)."""


class EvidenceConfig(_Section):
    """Black-box evidence of every alert (gateway.evidence): raw samples ``before_s`` before and
    ``after_s`` after it, sealed with a SHA-256 into ``path`` ('' = evidence.sqlite beside
    ``spool.state_path``) once the device's source time passed the window by ``grace_s``, or
    ``timeout_s`` after it opened. At start-up the windows of the newest ``rebuild_max`` alerts
    that first changed in the last ``rebuild_lookback_s`` and have no sealed document (a kill -9
    lost them) are rebuilt from the time-series store (gateway.evidence.rebuild; 0 = never)."""

    before_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 120.0
    after_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 60.0
    grace_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0
    timeout_s: Positive = 600.0
    max_samples: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 2000
    max_open: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000
    rebuild_lookback_s: Annotated[float, msgspec.Meta(ge=0, le=30 * 86400)] = 86400.0
    rebuild_max: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 200
    path: str = ""

    def file(self, state_path: str) -> Path:
        """Where the evidence file lives."""
        return Path(self.path) if self.path else Path(state_path).with_name("evidence.sqlite")


class GatewayConfig(_Section):
    mqtt: MqttConfig
    site: Annotated[str, msgspec.Meta(pattern=_ID)] = "default"
    #: ``pipeline``: analytics.Pipeline (detectors, rules, sessions); ``threshold``: the rule below only
    analytics: Literal["pipeline", "threshold"] = "pipeline"
    checkpoint_every_s: Positive = 60.0
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    spool: SpoolConfig = msgspec.field(default_factory=SpoolConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    liveness: LivenessConfig = msgspec.field(default_factory=LivenessConfig)
    rule: ThresholdRuleConfig = msgspec.field(default_factory=ThresholdRuleConfig)
    #: the site's posted charging tariff (fees of the ``session`` points; see analytics.sessions.tariff)
    tariff: Tariff = msgspec.field(default_factory=Tariff)
    notify: NotifyConfig = msgspec.field(default_factory=NotifyConfig)
    #: extra device-profile folders (relative to this file) besides the bundled chargewatch/devices
    profile_dirs: list[str] = msgspec.field(default_factory=list)
    #: the analytics pipeline's thresholds, alert timings, windows and tariff (analytics: pipeline)
    pipeline: PipelineConfig = msgspec.field(default_factory=PipelineConfig)
    commands: CommandsConfig = msgspec.field(default_factory=CommandsConfig)
    evidence: EvidenceConfig = msgspec.field(default_factory=EvidenceConfig)

    @property
    def max_age_s(self) -> float:
        """Oldest source timestamp accepted, in seconds before now (``limits.max_age_s``)."""
        return self.limits.max_age_s or self.store.retention.raw_days * 86400.0


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


def store_token(cfg: StoreConfig) -> str:
    """The store token from the environment ('' when none is configured)."""
    return _secret("store", cfg.token_env, "", "token")


def api_users(cfg: HttpConfig) -> list[ApiUser]:
    """The API users with their tokens read from the environment or files.

    A configured source that yields an empty or short token is refused: it would leave the API
    open while the config says it is protected.
    """
    check_access(cfg.bind, cfg.read, cfg.users, bool(cfg.token_env or cfg.token_file), "http")
    users = []
    for i, u in enumerate(cfg.users):
        token = _secret(f"http.users[{i}] ({u.name})", u.token_env, u.token_file, "token")
        users.append(resolve(u, i, token))
    check_tokens(users)
    return users


def notify_secret(section: str, env: str, file: str, key: str) -> str:
    """A notify channel's secret from the environment or a file ('' when none is configured)."""
    return _secret(f"notify.{section}", env, file, key)


def validate_config(cfg: GatewayConfig, where: str) -> GatewayConfig:
    """Cross-field checks; ConfigError names ``where`` (the file), the key and the fix."""
    if cfg.store.kind in {"influx_v1", "influx_v2"} and urlsplit(cfg.store.url).scheme not in {
        "http",
        "https",
    }:
        raise ConfigError(f"{where}: store.url {cfg.store.url!r} must be http(s)://host:port")
    if cfg.store.kind == "influx_v2" and not (cfg.store.org and cfg.store.bucket):
        raise ConfigError(f"{where}: store.kind influx_v2 needs store.org and store.bucket")
    if cfg.store.kind == "sqlite" and not cfg.store.path:
        raise ConfigError(f"{where}: store.kind sqlite needs store.path (the database file)")
    h = cfg.http
    check_access(h.bind, h.read, h.users, bool(h.token_env or h.token_file), where)
    _check_retention(cfg, where)
    _check_notify(cfg.notify, where)
    if cfg.limits.stale_after_s >= cfg.max_age_s:
        raise ConfigError(
            f"{where}: limits.stale_after_s ({cfg.limits.stale_after_s:g}) must be below "
            f"limits.max_age_s ({cfg.max_age_s:g}). Fix: lower it, e.g. to 300"
        )
    if cfg.evidence.timeout_s < cfg.evidence.after_s + cfg.evidence.grace_s:
        raise ConfigError(
            f"{where}: evidence.timeout_s must be at least evidence.after_s + evidence.grace_s "
            "(a window cannot time out before it could be complete). Fix: raise timeout_s"
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


def _check_retention(cfg: GatewayConfig, where: str) -> None:
    """The renamed ``limits.retention_s``, and ages and periods that fit together."""
    if cfg.limits.retention_s is not None:
        raise ConfigError(
            f"{where}: limits.retention_s was renamed limits.max_age_s: it never limited how long "
            "data is kept, only dead-letters messages older than it (too_old). Fix: rename the key "
            "to limits.max_age_s (or drop it: it defaults to store.retention.raw_days), and set how "
            "long data is kept with store.retention.raw_days / downsampled_days"
        )
    r = cfg.store.retention
    raw_s = r.raw_days * 86400.0
    if cfg.limits.max_age_s is not None and cfg.limits.max_age_s > raw_s:
        raise ConfigError(
            f"{where}: limits.max_age_s {cfg.limits.max_age_s:g} s accepts messages older than "
            f"store.retention.raw_days ({r.raw_days} d), which the store would refuse to keep. "
            "Fix: lower limits.max_age_s or raise store.retention.raw_days"
        )
    if r.downsampled_days and r.downsampled_days <= r.raw_days:
        raise ConfigError(
            f"{where}: store.retention.downsampled_days ({r.downsampled_days}) must exceed raw_days "
            f"({r.raw_days}): the aggregates are what outlives the raw points. Fix: raise it, or 0 "
            "for no aggregates"
        )
    if 86400 % r.downsample_s:
        raise ConfigError(
            f"{where}: store.retention.downsample_s {r.downsample_s} does not divide a day into "
            "whole buckets. Fix: use e.g. 60, 300, 600, 900 or 3600"
        )


def _check_notify(n: NotifyConfig, where: str) -> None:
    """URLs are http(s) and carry no secret; each robot names where its key comes from."""
    urls = {"public_url": n.public_url}
    for name in ("alertmanager", "wecom", "dingtalk", "webhook"):
        section = getattr(n, name)
        if section is not None:
            urls[f"{name}.url"] = section.url
    for key, url in urls.items():
        if key == "public_url" and not url:
            continue
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"{where}: notify.{key} {url!r} must be http(s)://host[:port]/path")
        if any(s in parts.query for s in ("key=", "access_token=", "sign=", "token=")):
            raise ConfigError(
                f"{where}: notify.{key} carries a secret in its query. Fix: remove it from the URL "
                "and name an environment variable or file (key_env/key_file, access_token_env/...)"
            )
    secrets = []
    if n.wecom is not None:
        secrets.append(("wecom", "key", n.wecom.key_env, n.wecom.key_file, True))
    if n.dingtalk is not None:
        d = n.dingtalk
        secrets.append(("dingtalk", "access_token", d.access_token_env, d.access_token_file, True))
        secrets.append(("dingtalk", "secret", d.secret_env, d.secret_file, False))
    if n.webhook is not None:
        secrets.append(("webhook", "token", n.webhook.token_env, n.webhook.token_file, False))
    for section, key, env, file, required in secrets:
        if env and file:
            raise ConfigError(f"{where}: notify.{section}: set only one of {key}_env and {key}_file")
        if required and not (env or file):
            raise ConfigError(
                f"{where}: notify.{section} needs its robot {key}. Fix: set notify.{section}.{key}_env "
                f"(an environment variable) or notify.{section}.{key}_file"
            )
    if n.retry.cap_s < n.retry.initial_s:
        raise ConfigError(f"{where}: notify.retry.cap_s must be at least notify.retry.initial_s")


def load_config(path: Path | str) -> GatewayConfig:
    """Read and validate the gateway YAML file."""
    cfg = decode_file(path, GatewayConfig, "gateway config", "configs/gateway.example.yaml", old_keys())
    validate_config(cfg, str(path))
    try:
        api_users(cfg.http)  # an empty or missing token is refused at load, not at first use
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return cfg

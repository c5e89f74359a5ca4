"""The agent's ``mqtt:`` section: the shared :class:`chargewatch.mqtt_config.MqttConfig` (broker,
credentials, TLS files, ``keepalive_s``, ``connect_timeout_s`` — the same keys as the gateway's)
plus what only the agent's store-and-forward link needs. Validated once at start-up.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from chargewatch.configfile import old_key_message
from chargewatch.errors import ConfigError
from chargewatch.mqtt_config import MqttConfig, old_keys


class MqttSettings(MqttConfig, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The agent's MQTT link: the shared broker settings plus its session and pacing.

    The session is persistent (MQTT 5, clean start off, ``session_expiry_s`` seconds) under the
    stable ``client_id``; with ``protocol: "3.1.1"`` (for brokers without MQTT 5, such as the
    demo's embedded broker) it is a clean-session-false 3.1.1 session whose expiry the broker sets.
    Reconnects back off exponentially with jitter from ``backoff_initial_s`` up to
    ``backoff_cap_s`` (≤ 60 s). ``status_interval_s`` is how often the retained status (with
    health) is refreshed; ``command_timeout_s`` bounds one command's callback.
    """

    session_expiry_s: Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)] = 86_400
    protocol: Literal["5", "3.1.1"] = "5"
    backoff_initial_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.5
    backoff_cap_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 60.0
    status_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    max_inflight: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 20
    command_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backoff_cap_s < self.backoff_initial_s:
            raise ValueError("`backoff_cap_s` must be >= `backoff_initial_s`")


def mqtt_settings(raw: object, source: str = "<config>") -> MqttSettings:
    """Validate a decoded ``mqtt:`` mapping; ConfigError names ``source``, the key and the fix."""
    try:
        return msgspec.convert(raw, MqttSettings)
    except msgspec.ValidationError as exc:
        old = old_key_message(exc, old_keys(prefix=""))
        raise ConfigError(f"{source}: mqtt: {old or exc}") from exc

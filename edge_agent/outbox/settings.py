"""Outbox settings, embedded in the agent YAML under ``outbox:`` and validated once at start-up."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

FullPolicy = Literal["drop_oldest_telemetry"]


class OutboxSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Where the durable outbox lives and how its backlog is sent.

    ``capacity`` counts messages; past it ``full_policy`` drops the oldest telemetry (events are
    never dropped). ``resend_timeout`` is how long a published message may stay unacknowledged
    before it is published again. After each reconnect the link waits a random delay in
    ``[0, reconnect_drain_delay_max]`` (no reconnect storms across a fleet), sends stored events
    first, then the telemetry backlog oldest-first at ``drain_rate`` msgs/s (0 = no limit) with
    at most ``drain_window`` messages sent and not yet acked, while live messages keep flowing
    (keep the window under the broker's per-subscriber queue limit: Mosquitto drops past 1,000).
    ``synchronous`` is SQLite's durability level: ``full`` fsyncs the WAL on every commit (a
    committed message survives power loss); ``normal`` survives a process kill -9 but may lose
    the last commits on power loss, for flash that must be spared.
    """

    path: str
    capacity: Annotated[int, msgspec.Meta(ge=10, le=100_000_000)] = 200_000
    full_policy: FullPolicy = "drop_oldest_telemetry"
    synchronous: Literal["full", "normal"] = "full"
    resend_timeout: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    drain_rate: Annotated[float, msgspec.Meta(ge=0)] = 2000.0
    drain_window: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 500
    reconnect_drain_delay_max: Annotated[float, msgspec.Meta(ge=0, le=600)] = 120.0

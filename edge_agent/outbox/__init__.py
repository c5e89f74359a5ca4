"""The agent's durable store-and-forward outbox (SQLite WAL): boot ids, per-device seq and ts."""

from edge_agent.outbox.group import GroupCommit
from edge_agent.outbox.settings import OutboxSettings
from edge_agent.outbox.store import (
    EVENT_PRIO,
    TELEMETRY_PRIO,
    Outbox,
    OutboxError,
    OutboxListener,
    OutboxLockedError,
    Row,
)
from edge_agent.outbox.writer import OutboxWriter

__all__ = [
    "EVENT_PRIO",
    "TELEMETRY_PRIO",
    "GroupCommit",
    "Outbox",
    "OutboxError",
    "OutboxListener",
    "OutboxLockedError",
    "OutboxSettings",
    "OutboxWriter",
    "Row",
]

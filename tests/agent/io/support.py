"""Helpers shared by the agent I/O tests: settings for a test broker, a filled outbox."""

from __future__ import annotations

from pathlib import Path

from edge_agent.mqtt import MqttSettings
from edge_agent.outbox import Outbox, OutboxSettings

PORTS = {"voltage": [230.0, 231.0], "current": [1.5, 0.0]}


def mqtt_for(url: str, client_id: str = "agent-1", **kw: object) -> MqttSettings:
    """Test settings: fast backoff and status so tests never wait on production delays."""
    opts: dict[str, object] = {"backoff_initial": 0.05, "backoff_cap": 0.5, "status_interval": 0.5}
    opts.update(kw)
    return MqttSettings(url=url, client_id=client_id, **opts)  # type: ignore[arg-type]


def outbox_for(tmp: Path, **kw: object) -> OutboxSettings:
    opts: dict[str, object] = {
        "resend_timeout": 1.0,
        "drain_rate": 0.0,
        "reconnect_drain_delay_max": 0.0,
        "synchronous": "normal",
    }
    opts.update(kw)
    return OutboxSettings(path=str(tmp / "outbox.db"), **opts)  # type: ignore[arg-type]


def add_tel(box: Outbox, device: str, ts: float) -> int:
    """Commit one small telemetry message; returns its seq."""
    return box.add_telemetry(device, ts, "cw-pile-10", PORTS, {"ambient_temp": 25.0}, {}).seq

"""Helpers shared by the agent I/O tests: settings for a test broker, a filled outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from chargewatch.messages import Status, decode_message
from chargewatch.mqtt_transport import Connection, Endpoint
from chargewatch.topics import agent_status_topic
from edge_agent.mqtt import MqttSettings
from edge_agent.outbox import Outbox, OutboxSettings, Row

#: cw-pile-10 has 10 ports; the gateway refuses columns of any other length (issue 8)
PORTS: dict[str, list[float | None]] = {"voltage": [230.0, 231.0, *[230.0] * 8], "current": [1.5, *[0.0] * 9]}


def mqtt_for(url: str, client_id: str = "agent-1", **kw: object) -> MqttSettings:
    """Test settings: fast backoff and status so tests never wait on production delays."""
    opts: dict[str, object] = {"backoff_initial_s": 0.05, "backoff_cap_s": 0.5, "status_interval_s": 0.5}
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


class _EmptyWatch:
    def __init__(self, box: Outbox) -> None:
        self.box = box
        self.empty = asyncio.Event()

    def committed(self, rows: Sequence[Row]) -> None:
        self.empty.clear()

    def deleted(self, ids: Sequence[int]) -> None:
        if self.box.depth() == 0:
            self.empty.set()


async def wait_empty(box: Outbox) -> None:
    """Return once every stored row was acked (callers bound it with ``asyncio.timeout``)."""
    watch = _EmptyWatch(box)
    box.add_listener(watch)
    try:
        if box.depth():
            await watch.empty.wait()
    finally:
        box.remove_listener(watch)


async def last_status(port: int, agent: str) -> Status:
    """The retained status of ``agent`` read by a fresh subscriber."""
    got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def on_message(_topic: str, payload: bytes) -> None:
        if not got.done():
            got.set_result(payload)

    ep = Endpoint(host="127.0.0.1", port=port, client_id="status-reader", clean_start=True)
    async with Connection(ep, on_message) as conn, asyncio.timeout(20):
        await conn.subscribe([(agent_status_topic(agent), 1)])
        msg = decode_message(await got)
    assert isinstance(msg, Status)
    return msg

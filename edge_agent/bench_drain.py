"""Outbox drain benchmark: MqttLink with an acker vs a plain paho QoS 1 publisher, same broker, same run.

The acker runs as its own process (``python -m edge_agent.acker``) so neither side shares a
GIL with it. ``paho_msgs_per_s`` is ``n`` QoS 1 publishes from a plain paho client (network
thread) until the last PUBACK; ``drain_msgs_per_s`` is ``n`` stored messages from a full outbox
through MqttLink until the acker's acks deleted the last row. Compare the ratio, not absolutes:
a busy neighbour halves both.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion

from chargewatch.messages import Telemetry, encode
from chargewatch.topics import TELEMETRY, device_topic
from edge_agent.mqtt import MqttLink, MqttSettings
from edge_agent.outbox import Outbox, OutboxSettings, Row

_PORTS: dict[str, list[float | None]] = {
    name: [float(i) + 0.5 for i in range(10)] for name in ("voltage", "current", "power", "energy", "temp")
}


def _paho_rate(host: str, port: int, n: int, payload: bytes, timeout: float) -> float:
    done = threading.Event()
    acked = 0

    def on_publish(_c: paho.Client, _u: Any, _mid: int, _rc: Any, _p: Any) -> None:
        nonlocal acked
        acked += 1
        if acked == n:
            done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho", protocol=paho.MQTTv5)
    client.on_publish = on_publish
    client.connect(host, port, 30)
    client.loop_start()
    try:
        topic = device_topic("bench-paho", TELEMETRY)
        t0 = time.perf_counter()
        for _ in range(n):
            client.publish(topic, payload, qos=1)
        if not done.wait(timeout):
            raise TimeoutError(f"plain paho: {acked}/{n} PUBACKs within {timeout} s")
        return n / (time.perf_counter() - t0)
    finally:
        client.disconnect()
        client.loop_stop()


class _Drained:
    def __init__(self, box: Outbox) -> None:
        self.box = box
        self.empty = asyncio.Event()

    def committed(self, rows: Sequence[Row]) -> None:
        """Nothing: the bench commits before the link starts."""

    def deleted(self, ids: Sequence[int]) -> None:
        if self.box.depth() == 0:
            self.empty.set()


async def _drain_rate(url: str, n: int, directory: Path, limit_s: float) -> float:
    # window 900: just under Mosquitto's default 1,000-message queue per subscriber
    settings = OutboxSettings(
        path=str(directory / "bench-outbox.db"),
        drain_rate=0.0,
        drain_window=900,
        reconnect_drain_delay_max=0.0,
    )
    with Outbox(settings) as box:
        with box.transaction():
            for i in range(n):
                box.add_telemetry("bench-drain", 1_750_000_000.0 + i, "cw-pile-10", _PORTS, {}, {})
        watch = _Drained(box)
        box.add_listener(watch)
        mqtt = MqttSettings(url=url, client_id="bench-drain", backoff_initial_s=0.05, backoff_cap_s=1.0)
        t0 = time.perf_counter()
        async with MqttLink(mqtt, box, agent="bench-drain", devices=["bench-drain"]):
            async with asyncio.timeout(limit_s):
                await watch.empty.wait()
            return n / (time.perf_counter() - t0)


async def drain_bench(broker_url: str, n: int) -> dict[str, float]:
    """Measure outbox drain and plain paho QoS 1 rates on ``broker_url`` in one run."""
    parts = urlsplit(broker_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    timeout = 30.0 + n / 500.0
    payload = encode(
        Telemetry(device="bench-paho", boot=1, seq=0, ts=1_750_000_000.0, model="cw-pile-10", ports=_PORTS)
    )
    acker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_agent.acker", broker_url, "--client-id", "bench-acker",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert acker.stdout is not None
        async with asyncio.timeout(20):
            line = await acker.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"acker did not start: {line!r}")
        paho_rate = await asyncio.to_thread(_paho_rate, host, port, n, payload, timeout)
        with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp:
            drain_rate = await _drain_rate(broker_url, n, Path(tmp), timeout)
    finally:
        acker.terminate()
        await acker.wait()
    return {
        "n": float(n),
        "drain_msgs_per_s": round(drain_rate, 1),
        "paho_msgs_per_s": round(paho_rate, 1),
        "drain_ratio": round(drain_rate / paho_rate, 3),
    }

"""Test helpers: a publisher that re-sends until acked (like the agent), gateway configs,
a gateway subprocess, and InfluxQL / HTTP readers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from chargewatch import topics
from chargewatch.messages import Ack, Status, Telemetry, decode_message, encode
from chargewatch.mqtt_config import MqttConfig
from gateway.config import (
    GatewayConfig,
    HttpConfig,
    LimitsConfig,
    LivenessConfig,
    SpoolConfig,
    StoreConfig,
)
from tests.support.servers import free_port, wait_http

REPO = Path(__file__).resolve().parents[3]


class ResendingPublisher:
    """Publishes telemetry per device with seqs; re-sends every unacked seq after ``resend_after``."""

    def __init__(self, port: int, devices: list[str], boot: int = 1, resend_after: float = 1.0) -> None:
        self.devices = devices
        self.boot = boot
        self.resend_after = resend_after
        self.t0 = time.time() - 600.0
        self.next_seq = dict.fromkeys(devices, 0)
        self.unacked: dict[tuple[str, int], tuple[bytes, float]] = {}
        self.acked: set[tuple[str, int]] = set()
        self.resent = 0
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{port}-{boot}")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        client.subscribe([(topics.device_filter(topics.ACK, d), 1) for d in self.devices])

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        ack = decode_message(bytes(msg.payload))
        assert isinstance(ack, Ack)
        if ack.boot != self.boot:
            return
        with self._lock:
            for r in ack.ranges:
                for seq in range(r.lo, r.hi + 1):
                    self.unacked.pop((ack.device, seq), None)
                    self.acked.add((ack.device, seq))

    def telemetry(self, device: str, temp: float = 30.0) -> Telemetry:
        seq = self.next_seq[device]
        self.next_seq[device] = seq + 1
        return Telemetry(
            device=device,
            boot=self.boot,
            seq=seq,
            ts=self.t0 + seq * 0.01,
            model="cw-pile-10",
            ports={"socket_temp": [temp, *[30.0] * 9], "power": [100.0, *[0.0] * 9]},
            values={"ambient_temp": 25.0},
        )

    def send(self, msg: Telemetry) -> None:
        payload = encode(msg)
        with self._lock:
            self.unacked[(msg.device, msg.seq)] = (payload, time.monotonic())
        self.client.publish(topics.device_topic(msg.device, topics.TELEMETRY), payload, qos=1)

    def resend_due(self) -> int:
        now = time.monotonic()
        with self._lock:
            due = [(k, p) for k, (p, t) in self.unacked.items() if now - t >= self.resend_after]
            for k, p in due:
                self.unacked[k] = (p, now)
        self.resent += len(due)
        for (device, _seq), payload in due:
            self.client.publish(topics.device_topic(device, topics.TELEMETRY), payload, qos=1)
        return len(due)

    def published(self) -> int:
        return sum(self.next_seq.values())

    async def settle(self, within: float) -> None:
        """Re-send until every published seq is acked; AssertionError after ``within`` s."""
        deadline = time.monotonic() + within
        while self.unacked:
            assert time.monotonic() < deadline, f"{len(self.unacked)} seqs never acked"
            self.resend_due()
            await asyncio.sleep(0.1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def raw_publish(port: int, items: list[tuple[str, bytes, bool]]) -> None:
    """Publish (topic, payload, retain) at QoS 1 and wait until the broker has them."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{time.monotonic_ns()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload, retain in items:
            client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def retained(port: int, topic: str, within: float = 5.0) -> bytes:
    """The retained payload of ``topic`` (AssertionError if none arrives in ``within`` s)."""
    got: list[bytes] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"ret-{time.monotonic_ns()}")
    client.on_message = lambda _c, _u, m: got.append(bytes(m.payload))
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        deadline = time.monotonic() + within
        while not got:
            assert time.monotonic() < deadline, f"no retained message on {topic}"
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0]


def status(agent: str, online: bool, boot: int, devices: list[str]) -> bytes:
    return encode(Status(agent=agent, online=online, boot=boot, ts=time.time(), devices=devices))


def make_config(
    tmp: Path,
    mqtt_port: int,
    influx_url: str,
    *,
    client_id: str = "gw-test",
    keepalive: float = 60.0,
    degraded_after: float = 60.0,
    gap_timeout: float = 30.0,
    analytics: Literal["pipeline", "threshold"] = "threshold",
    stale_after: float = 3600.0,  # ResendingPublisher stamps readings from 10 minutes ago on
) -> GatewayConfig:
    return GatewayConfig(
        site="test",
        analytics=analytics,
        mqtt=MqttConfig(url=f"mqtt://127.0.0.1:{mqtt_port}", client_id=client_id, keepalive_s=5),
        store=StoreConfig(kind="influx_v1", url=influx_url, db="cw"),
        spool=SpoolConfig(
            path=str(tmp / "spool.sqlite"),
            state_path=str(tmp / "state.sqlite"),
            analytics_path=str(tmp / "analytics.ckpt"),
            degraded_after_s=degraded_after,
        ),
        http=HttpConfig(bind="127.0.0.1", port=free_port()),
        limits=LimitsConfig(gap_timeout_s=gap_timeout, ack_interval_s=0.1, stale_after_s=stale_after),
        liveness=LivenessConfig(device_keepalive_s=keepalive, tick_s=0.25),
    )


def write_config(cfg: GatewayConfig, path: Path) -> Path:
    import msgspec  # noqa: PLC0415 - only this helper needs YAML encoding

    path.write_bytes(msgspec.yaml.encode(cfg))
    return path


class GatewayProcess:
    """``python -m chargewatch_cli gateway --config ...`` as a child we kill by PID."""

    def __init__(self, config: Path, http_port: int, log: Path, ready_path: str = "/metrics") -> None:
        self.config = config
        self.http_port = http_port
        self.log = log
        self.ready_path = ready_path  # answers 2xx once the gateway serves (/health behind a login)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chargewatch_cli", "gateway", "--config", str(self.config)],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_http(f"http://127.0.0.1:{self.http_port}{self.ready_path}", timeout=20, proc=self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(15)


async def http_json(port: int, path: str, method: str = "GET", body: bytes | None = None) -> Any:
    """JSON from the gateway's API, fetched off the event loop (the server runs on it)."""
    return await asyncio.to_thread(_http_json, port, path, method, body)


async def http_text(port: int, path: str) -> str:
    return await asyncio.to_thread(_http_text, port, path)


def _http_json(port: int, path: str, method: str, body: bytes | None) -> Any:
    headers = {} if method == "GET" else {"X-ChargeWatch-CSRF": "1"}  # as the dashboard sends
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def _http_text(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return str(resp.read().decode())


def influxql(url: str, query: str, db: str = "cw") -> list[dict[str, Any]]:
    """Series of an InfluxQL query ([] when none)."""
    qs = urllib.parse.urlencode({"db": db, "q": query, "epoch": "ms"})
    with urllib.request.urlopen(f"{url}/query?{qs}", timeout=10) as resp:
        data = json.loads(resp.read())
    result = data["results"][0]
    if "database not found" in result.get("error", ""):
        return []  # an influxd killed right after CREATE DATABASE may forget it; the writer re-creates it
    assert "error" not in result, result
    return list(result.get("series", []))


def stored_seqs(url: str, device: str, measurement: str = "pile") -> list[int]:
    """Every seq stored for ``device`` (one per point), in time order."""
    series = influxql(url, f"SELECT seq FROM {measurement} WHERE device='{device}'")
    return [int(v[1]) for s in series for v in s["values"]]


async def wait_for(cond: Any, within: float, what: str) -> None:
    """Poll ``cond()`` until true; AssertionError naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)

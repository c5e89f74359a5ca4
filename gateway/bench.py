"""``chargewatch bench ingest [--json]``: the gateway end to end against its two ceilings, in one run.

The bench starts its own Mosquitto (``max_queued_messages`` raised so the broker never drops
silently) and InfluxDB 1.x on free loopback ports with temp dirs, and stops them by PID. Then:

1. **subscriber ceiling** — a plain paho subscriber (QoS 1, no decoding) receiving the same
   10-port telemetry messages from a publisher process;
2. **store ceiling** — raw line protocol into InfluxDB in 5,000-point batches
   (:func:`gateway.store.store_ceiling`);
3. **gateway** — the real :class:`gateway.app.Gateway` (analytics pipeline on, durable spool,
   acks) fed by the same publisher; throughput from the first publish until every point is
   stored, latency from each message's source ``ts`` to the store accepting its batch, and the
   CPU seconds the gateway process used. ``p50_ms``/``p99_ms`` come from a second, paced run at
   half the measured rate (latency below saturation: mostly the spool's 1 s flush interval);
   ``saturated_p*_ms`` are from the flat-out run (queueing in the broker dominates).

Bounded in count (``--messages``) and time (``--timeout`` per phase). The last line with
``--json`` is ``{"gateway_msgs_per_s", "gateway_port_samples_per_s", "subscriber_ceiling_msgs_per_s",
"store_ceiling_points_per_s", "ratio_to_lower_ceiling", "p50_ms", "p99_ms", ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from chargewatch import topics
from chargewatch.errors import ChargeWatchError
from chargewatch.messages import Telemetry, encode
from gateway.app import Gateway
from gateway.config import GatewayConfig, HttpConfig, LimitsConfig, MqttConfig, SpoolConfig, StoreConfig
from gateway.store import InfluxV1Store, Row, store_ceiling

PORTS = 10
Analytics = Literal["pipeline", "threshold"]


class BenchError(ChargeWatchError):
    """A bench phase failed or ran out of time."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Any, what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"{what} not ready after {within} s")
        time.sleep(0.05)


def _can_connect(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), 0.5):
        return True


def _http(url: str, method: str) -> int:
    """Status of a request to a loopback server the bench started (http only)."""
    if not url.startswith("http://127.0.0.1:"):
        raise BenchError(f"refusing to open {url!r}")
    req = urllib.request.Request(url, method=method)  # noqa: S310 - checked above
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - checked above
        return int(resp.status)


@contextmanager
def _server(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _binary(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), ""
    )
    if not path:
        raise BenchError(f"{name} not found: install it (Debian packages mosquitto, influxdb)")
    return path


@contextmanager
def _mosquitto(tmp: Path) -> Iterator[int]:
    port = _free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 2000000\nmax_queued_bytes 0\n"
    )
    with _server([_binary("mosquitto"), "-c", str(conf)], tmp / "mosquitto.log"):
        _wait(lambda: _can_connect(port), "mosquitto", 15)
        yield port


@contextmanager
def _influxd(tmp: Path) -> Iterator[str]:
    port, rpc = _free_port(), _free_port()
    conf = tmp / "influxdb.conf"
    conf.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n[meta]\n  dir = "{tmp}/meta"\n'
        f'[data]\n  dir = "{tmp}/data"\n  wal-dir = "{tmp}/wal"\n  query-log-enabled = false\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
    )
    url = f"http://127.0.0.1:{port}"
    with _server([_binary("influxd"), "run", "-config", str(conf)], tmp / "influxd.log"):
        _wait(lambda: _http(f"{url}/ping", "GET") == 204, "influxd", 30)
        yield url


def _messages(devices: int, count: int, boot: int) -> list[tuple[str, bytes]]:
    """``count`` 10-port telemetry messages round-robin over ``devices``; ts set at publish time."""
    out = []
    for i in range(count):
        device = f"bench-{i % devices}"
        msg = Telemetry(
            device=device,
            boot=boot,
            seq=i // devices,
            ts=0.0,
            model="cw-pile-10",
            ports={
                "voltage": [230.0] * PORTS,
                "current": [1.5] * PORTS,
                "power": [345.0] * PORTS,
                "socket_temp": [31.5] * PORTS,
                "state": [1.0] * PORTS,
            },
            values={"ambient_temp": 25.0, "total_power": 3450.0},
        )
        out.append((topics.device_topic(device, topics.TELEMETRY), encode(msg)))
    return out


def _publish(port: int, devices: int, count: int, boot: int, rate: float) -> None:
    """Publisher process: QoS 1, source ts stamped at publish (``"ts":0.0`` replaced); ``rate``
    msgs/s when > 0, else as fast as paho goes."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{boot}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    last = None
    start = time.monotonic()
    for i, (topic, payload) in enumerate(_messages(devices, count, boot)):
        if rate > 0 and (ahead := start + i / rate - time.monotonic()) > 0:
            time.sleep(ahead)
        stamped = payload.replace(b'"ts":0.0', b'"ts":' + repr(time.time()).encode(), 1)
        last = client.publish(topic, stamped, qos=1)
    if last is not None:
        last.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def _start_publisher(
    port: int, devices: int, count: int, boot: int, rate: float = 0.0
) -> mp.process.BaseProcess:
    proc = mp.get_context("spawn").Process(
        target=_publish, args=(port, devices, count, boot, rate), daemon=True
    )
    proc.start()
    return proc


def subscriber_ceiling(port: int, devices: int, count: int, within: float) -> float:
    """Messages/s a plain paho QoS 1 subscriber receives (first to last message)."""
    got = 0
    first = last = 0.0
    done = threading.Event()

    def on_message(_c: paho.Client, _u: object, _m: paho.MQTTMessage) -> None:
        nonlocal got, first, last
        last = time.perf_counter()
        if got == 0:
            first = last
        got += 1
        if got >= count:
            done.set()

    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub", clean_session=True)
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe(topics.device_filter(topics.TELEMETRY), qos=1)
    sub.loop_start()
    time.sleep(0.3)
    pub = _start_publisher(port, devices, count, boot=1)
    try:
        if not done.wait(within):
            raise BenchError(f"subscriber got {got} of {count} messages in {within} s")
    finally:
        pub.join(within)
        sub.disconnect()
        sub.loop_stop()
    return (count - 1) / max(last - first, 1e-9)


class _TimedStore:
    """Wraps the store: records (now - source ts) for every ``pile`` line it accepted."""

    def __init__(self, inner: InfluxV1Store) -> None:
        self.inner = inner
        self.name = inner.name
        self.latencies: list[float] = []
        self.pile_points = 0
        self.last_write = 0.0

    async def write(self, lines: Sequence[str]) -> None:
        await self.inner.write(lines)
        now = time.time()
        piles = [ln for ln in lines if ln.startswith("pile,")]
        self.latencies += [now - int(ln.rsplit(" ", 1)[1]) / 1000 for ln in piles]
        self.pile_points += len(piles)
        self.last_write = time.perf_counter()

    async def last(self, measurement: str, where: Any = None) -> list[Row]:
        return await self.inner.last(measurement, where)

    async def series(
        self, measurement: str, fields: Sequence[str], where: Any, start_ms: int, end_ms: int
    ) -> list[Row]:
        return await self.inner.series(measurement, fields, where, start_ms, end_ms)

    async def count(self, measurement: str, field: str, where: Any, start_ms: int, end_ms: int) -> int:
        return await self.inner.count(measurement, field, where, start_ms, end_ms)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000 if s else float("nan")


async def gateway_run(
    tmp: Path,
    port: int,
    influx: str,
    *,
    devices: int,
    count: int,
    within: float,
    analytics: Analytics,
    boot: int = 2,
    rate: float = 0.0,
) -> dict[str, float]:
    """The gateway end to end: msgs/s, port samples/s, latency and CPU."""
    cfg = GatewayConfig(
        site="bench",
        analytics=analytics,
        mqtt=MqttConfig(url=f"mqtt://127.0.0.1:{port}", client_id="bench-gateway"),
        store=StoreConfig(kind="influx_v1", url=influx, db="chargewatch"),
        spool=SpoolConfig(
            path=str(tmp / "spool.sqlite"),
            state_path=str(tmp / "state.sqlite"),
            analytics_path=str(tmp / "analytics.ckpt"),
        ),
        http=HttpConfig(port=0),
        limits=LimitsConfig(retention_s=86400.0),
    )
    store = _TimedStore(InfluxV1Store(influx, "chargewatch"))
    async with Gateway(cfg, store=store) as gw:
        await gw.mqtt.wait_connected(10)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        pub = _start_publisher(port, devices, count, boot=boot, rate=rate)
        deadline = time.monotonic() + within
        while store.pile_points < count:
            if time.monotonic() > deadline:
                raise BenchError(f"gateway stored {store.pile_points} of {count} messages in {within} s")
            await asyncio.sleep(0.05)
        elapsed = store.last_write - start
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.to_thread(pub.join, 10)
        dups = gw.metrics.get("cw_ingest_duplicates_total")
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "gateway_msgs_per_s": count / elapsed,
        "gateway_port_samples_per_s": count * PORTS / elapsed,
        "p50_ms": _pct(store.latencies, 0.50),
        "p99_ms": _pct(store.latencies, 0.99),
        "gateway_cpu_s": cpu,
        "gateway_cpu_us_per_msg": cpu / count * 1e6,
        "gateway_duplicates": dups,
    }


async def _bench(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    (tmp / "mq").mkdir()
    (tmp / "influx").mkdir()
    (tmp / "gw").mkdir()
    (tmp / "gw-paced").mkdir()
    with _mosquitto(tmp / "mq") as port, _influxd(tmp / "influx") as influx:
        sub = await asyncio.to_thread(subscriber_ceiling, port, args.devices, args.messages, args.timeout)
        await asyncio.to_thread(_http, f"{influx}/query?q=CREATE+DATABASE+ceiling", "POST")
        points_per_msg = PORTS + 1
        store = await store_ceiling(f"{influx}/write?db=ceiling&precision=ms", args.messages * points_per_msg)
        result = await gateway_run(
            tmp / "gw",
            port,
            influx,
            devices=args.devices,
            count=args.messages,
            within=args.timeout,
            analytics=args.analytics,
        )
        # latency below saturation: half the measured rate, about 5 s of traffic
        rate = result["gateway_msgs_per_s"] / 2
        paced = await gateway_run(
            tmp / "gw-paced",
            port,
            influx,
            devices=args.devices,
            count=max(100, min(args.messages, int(rate * 5))),
            within=args.timeout,
            analytics=args.analytics,
            boot=3,
            rate=rate,
        )
    lower = min(sub, store / points_per_msg)
    return {
        **result,
        "saturated_p50_ms": result["p50_ms"],
        "saturated_p99_ms": result["p99_ms"],
        "p50_ms": paced["p50_ms"],
        "p99_ms": paced["p99_ms"],
        "paced_msgs_per_s": rate,
        "subscriber_ceiling_msgs_per_s": sub,
        "store_ceiling_points_per_s": store,
        "store_ceiling_msgs_per_s": store / points_per_msg,
        "ratio_to_lower_ceiling": result["gateway_msgs_per_s"] / lower,
        "messages": float(args.messages),
    }


def main(argv: list[str]) -> int:
    """Entry point of ``chargewatch bench ingest``."""
    parser = argparse.ArgumentParser(prog="chargewatch bench ingest", description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000, help="10-port telemetry messages per phase")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per phase")
    parser.add_argument(
        "--analytics",
        choices=["pipeline", "threshold"],
        default="pipeline",
        help="analytics hook in the gateway run (pipeline = analytics.Pipeline, the default)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args(argv)
    if not 100 <= args.messages <= 1_000_000:
        parser.error("--messages must be within 100..1,000,000")
    with tempfile.TemporaryDirectory(prefix="cw-bench-ingest-") as d:
        try:
            figures = asyncio.run(_bench(args, Path(d)))
        except ChargeWatchError as exc:
            print(f"chargewatch bench ingest: {exc}")
            return 1
    for key, value in figures.items():
        print(f"{key:32s} {value:12.1f}")
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in figures.items()}))
    return 0

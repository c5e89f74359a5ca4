"""``chargewatch bench ingest [--store influx_v1|victoria] [--json]``: the gateway end to end
against its two ceilings, in one run.

The bench starts its own Mosquitto (``max_queued_messages`` raised so the broker never drops
silently) and the chosen store — InfluxDB 1.x (``/write``) or VictoriaMetrics (``/api/v2/write``,
far less CPU per point, so the figures isolate the gateway on a shared machine) — on free
loopback ports with temp dirs, and stops them by PID. Then:

1. **subscriber ceiling** — a plain paho subscriber (QoS 1, no decoding) receiving the same
   10-port telemetry messages from a publisher process;
2. **store ceiling** — raw line protocol into the store in 5,000-point batches
   (:func:`gateway.store.store_ceiling`);
3. **gateway** — the real :class:`gateway.app.Gateway` (analytics hook per ``--analytics``,
   durable spool, acks) fed by the same publisher; throughput from the first publish (the
   earliest source ts stored; the publisher process's start-up is not counted) until every point
   is stored, latency from each message's source ``ts`` to the store accepting its batch, and the
   CPU seconds the gateway process used. ``p50_ms``/``p99_ms`` come from a second, paced run at
   half the measured rate (latency below saturation: mostly the spool's 1 s flush interval);
   ``saturated_p*_ms`` are from the flat-out run (queueing in the spool and broker dominates).

``bytes_per_port_sample`` = growth of the store's on-disk data over the flat-out gateway run,
once the store has flushed and compacted it (InfluxDB: the database's TSM files and WAL;
VictoriaMetrics: its data dir after ``/internal/force_flush``), ÷ the port samples written
(each ``pile`` point is counted in, as the cost that comes with its ports).

``ratio_to_lower_ceiling`` = gateway msgs/s ÷ min(subscriber msgs/s, store points/s ÷ 11), each
message being 11 points (10 ``port`` + 1 ``pile``); ``ratio_basis`` in the JSON says so.

Bounded in count (``--messages``) and time (``--timeout``, the whole run). The last line with
``--json`` is ``{"store", "gateway_msgs_per_s", "gateway_port_samples_per_s",
"subscriber_ceiling_msgs_per_s", "store_ceiling_points_per_s", "ratio_to_lower_ceiling",
"p50_ms", "p99_ms", ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from chargewatch import topics
from chargewatch.errors import ChargeWatchError
from chargewatch.messages import Telemetry, encode
from chargewatch.mqtt_config import MqttConfig
from gateway._benchservers import BenchError, dir_bytes, http, influxd, mosquitto, settled_bytes, victoria
from gateway.app import Gateway
from gateway.config import GatewayConfig, HttpConfig, LimitsConfig, RetentionConfig, SpoolConfig, StoreConfig
from gateway.store import Row, TimeSeriesStore, store_ceiling
from gateway.wiring import make_store

PORTS = 10
Analytics = Literal["pipeline", "threshold"]
StoreKind = Literal["influx_v1", "victoria"]
POINTS_PER_MSG = PORTS + 1
RATIO_BASIS = "gateway msgs/s / min(subscriber msgs/s, store points/s / 11 points per message)"


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
            # register value × scale, as the agent decodes them (so with binary float noise)
            ports={
                "voltage": [(2290 + (i + p) % 21) * 0.1 for p in range(PORTS)],
                "current": [(1400 + (i * 7 + p) % 211) * 0.001 for p in range(PORTS)],
                "power": [(3400 + (i * 3 + p) % 101) * 0.1 for p in range(PORTS)],
                "socket_temp": [(300 + (i // 10 + p) % 31) * 0.1 for p in range(PORTS)],
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

    def __init__(self, inner: TimeSeriesStore) -> None:
        self.inner = inner
        self.name = inner.name
        self.latencies: list[float] = []
        self.pile_points = 0
        self.first_ts = float("inf")  # earliest source ts stored = the first publish
        self.last_write = 0.0

    async def write(self, lines: Sequence[str]) -> None:
        await self.inner.write(lines)
        now = time.time()
        stamps = [int(ln.rsplit(" ", 1)[1]) / 1000 for ln in lines if ln.startswith("pile,")]
        self.latencies += [now - ts for ts in stamps]
        self.first_ts = min(self.first_ts, *stamps) if stamps else self.first_ts
        self.pile_points += len(stamps)
        self.last_write = now

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


def _store_config(kind: StoreKind, url: str) -> StoreConfig:
    if kind == "victoria":
        return StoreConfig(kind="influx_v2", url=url, org="bench", bucket="chargewatch")
    # the raw policy only: the bytes figure is the raw points' (aggregates cost per bucket)
    retention = RetentionConfig(downsampled_days=0)
    return StoreConfig(kind="influx_v1", url=url, db="chargewatch", retention=retention)


async def gateway_run(
    tmp: Path,
    port: int,
    store_url: str,
    *,
    devices: int,
    count: int,
    within: float,
    analytics: Analytics,
    store_kind: StoreKind = "influx_v1",
    boot: int = 2,
    rate: float = 0.0,
) -> dict[str, float]:
    """The gateway end to end: msgs/s, port samples/s, latency and CPU."""
    cfg = GatewayConfig(
        site="bench",
        analytics=analytics,
        mqtt=MqttConfig(url=f"mqtt://127.0.0.1:{port}", client_id="bench-gateway"),
        store=_store_config(store_kind, store_url),
        spool=SpoolConfig(
            path=str(tmp / "spool.sqlite"),
            state_path=str(tmp / "state.sqlite"),
            analytics_path=str(tmp / "analytics.ckpt"),
        ),
        http=HttpConfig(port=0),
        limits=LimitsConfig(max_age_s=86400.0),
    )
    async with make_store(cfg.store) as inner:
        store = _TimedStore(inner)
        async with Gateway(cfg, store=store) as gw:
            await gw.mqtt.wait_connected(10)
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            pub = _start_publisher(port, devices, count, boot=boot, rate=rate)
            deadline = time.monotonic() + within
            while store.pile_points < count:
                if time.monotonic() > deadline:
                    pub.kill()
                    raise BenchError(
                        f"gateway stored {store.pile_points} of {count} messages in {within:.0f} s"
                    )
                await asyncio.sleep(0.05)
            # from the first publish (not the publisher's start-up), like the subscriber ceiling
            elapsed = store.last_write - store.first_ts
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


@contextmanager
def _store_server(kind: StoreKind, tmp: Path) -> Iterator[tuple[str, str]]:
    """The store's base URL and the write URL of its ``ceiling`` database."""
    tmp.mkdir()
    if kind == "victoria":
        with victoria(tmp) as url:
            yield url, f"{url}/api/v2/write?bucket=ceiling&precision=ms"
        return
    with influxd(tmp) as url:
        http(f"{url}/query?q=CREATE+DATABASE+ceiling", "POST")
        yield url, f"{url}/write?db=ceiling&precision=ms"


def _store_bytes(kind: StoreKind, tmp: Path, url: str, within: float) -> int:
    """On-disk bytes of the gateway's data once flushed and compacted: InfluxDB's ``chargewatch``
    database (TSM files plus what is left of its WAL), or the whole VictoriaMetrics data dir
    (also holding the ceiling's data, so the figure is the growth over the gateway run)."""
    if kind == "victoria":
        return settled_bytes(tmp / "vmdata", min(within, 60.0), flush=f"{url}/internal/force_flush")
    db = "chargewatch"
    return settled_bytes(tmp / "data" / db, min(within, 60.0)) + dir_bytes(tmp / "wal" / db)


async def _bench(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    deadline = time.monotonic() + float(args.timeout)

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 1.0:
            raise BenchError(f"out of time: the whole run is bounded by --timeout {args.timeout:.0f} s")
        return remaining

    (tmp / "mq").mkdir()
    with mosquitto(tmp / "mq") as port, _store_server(args.store, tmp / "store") as (url, ceiling_url):
        sub = await asyncio.to_thread(subscriber_ceiling, port, args.devices, args.messages, left())
        async with asyncio.timeout(left()):
            store = await store_ceiling(ceiling_url, args.messages * POINTS_PER_MSG)
        before = await asyncio.to_thread(_store_bytes, args.store, tmp / "store", url, left())
        run = {"devices": args.devices, "analytics": args.analytics, "store_kind": args.store}
        result = await gateway_run(tmp / "gw", port, url, count=args.messages, within=left(), **run)
        after = await asyncio.to_thread(_store_bytes, args.store, tmp / "store", url, left())
        result["bytes_per_port_sample"] = (after - before) / (args.messages * PORTS)
        # latency below saturation: half the measured rate, about 5 s of traffic
        rate = result["gateway_msgs_per_s"] / 2
        paced_count = max(100, min(args.messages, int(rate * 5)))
        paced = await gateway_run(
            tmp / "gw-paced", port, url, count=paced_count, within=left(), boot=3, rate=rate, **run
        )
    lower = min(sub, store / POINTS_PER_MSG)
    return {
        **result,
        "saturated_p50_ms": result["p50_ms"],
        "saturated_p99_ms": result["p99_ms"],
        "p50_ms": paced["p50_ms"],
        "p99_ms": paced["p99_ms"],
        "paced_msgs_per_s": rate,
        "subscriber_ceiling_msgs_per_s": sub,
        "store_ceiling_points_per_s": store,
        "store_ceiling_msgs_per_s": store / POINTS_PER_MSG,
        "ratio_to_lower_ceiling": result["gateway_msgs_per_s"] / lower,
        "messages": float(args.messages),
    }


def main(argv: list[str]) -> int:
    """Entry point of ``chargewatch bench ingest``."""
    parser = argparse.ArgumentParser(prog="chargewatch bench ingest", description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000, help="10-port telemetry messages per phase")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds allowed for the whole run")
    parser.add_argument(
        "--analytics",
        choices=["pipeline", "threshold"],
        default="pipeline",
        help="analytics hook in the gateway run (pipeline = analytics.Pipeline, the default)",
    )
    parser.add_argument(
        "--store",
        choices=["influx_v1", "victoria"],
        default="influx_v1",
        help="influx_v1 = InfluxDB 1.x /write; victoria = VictoriaMetrics /api/v2/write (cheap per point)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args(argv)
    if not 100 <= args.messages <= 1_000_000:
        parser.error("--messages must be within 100..1,000,000")
    if not 5 <= args.timeout <= 3600:
        parser.error("--timeout must be within 5..3600 s")
    with tempfile.TemporaryDirectory(prefix="cw-bench-ingest-") as d:
        try:
            figures = asyncio.run(_bench(args, Path(d)))
        except (ChargeWatchError, TimeoutError) as exc:
            print(f"chargewatch bench ingest: {exc or 'out of time'}")
            return 1
    print(f"{'store':32s} {args.store:>12s}   (analytics: {args.analytics})")
    for key, value in figures.items():
        print(f"{key:32s} {value:12.1f}")
    print(f"{'ratio_basis':32s} {RATIO_BASIS}")
    if args.json:
        out: dict[str, str | float] = {"store": args.store, "analytics": args.analytics}
        out |= {k: round(v, 3) for k, v in figures.items()}
        out["ratio_basis"] = RATIO_BASIS
        print(json.dumps(out))
    return 0

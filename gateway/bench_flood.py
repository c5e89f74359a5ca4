"""``chargewatch bench flood [--json]``: real devices next to a flood, through real Mosquitto and
the real gateway process.

The bench starts Mosquitto (its default queue limits, as most deployments run it: a subscriber
that falls behind loses QoS 1 messages beyond ``max_queued_messages`` 1000) and the gateway as
a child process (``python -m chargewatch gateway``, SQLite or VictoriaMetrics store) on free
loopback ports with temp dirs, and stops both by PID. Then:

1. **real devices** — ``--devices`` ids of one agent (its retained status lists them) publish
   10-port telemetry at 1 Hz each, QoS 1, never re-sending; a warm-up makes them known;
2. **flood** — for ``--flood-seconds`` two child processes publish as fast as they can: one
   device id (valid telemetry, fresh seqs) and a client cycling through ``--new-ids`` never-seen
   ids (valid telemetry each);
3. **drain** — the real devices go on for a few seconds; then the figures.

Per real-device message the **staleness** is the time from its publish to the gateway's
application ack (sent only after the durable spool commit); **lost** = published and never acked.
Flood messages are accounted for from the gateway's metrics: accepted, refused by reason, and
``broker_or_unaccounted`` = sent − accepted − refused (what the broker dropped). Also the
gateway's RSS (now and peak) and the ``device_offline`` alerts raised for flood ids.

Bounded in count (``--flood-max`` messages per flooder) and time (``--timeout``). The last line
with ``--json`` is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from chargewatch import topics
from chargewatch.errors import ChargeWatchError
from chargewatch.messages import Ack, Status, Telemetry, decode_message, encode
from chargewatch.mqtt_config import MqttConfig
from gateway._benchservers import BenchError, free_port, mosquitto, victoria, wait
from gateway.config import (
    GatewayConfig,
    HttpConfig,
    LimitsConfig,
    LivenessConfig,
    SpoolConfig,
    StoreConfig,
)

PORTS = 10
AGENT = "bench-agent"
#: the real devices are trusted (read on the trusted session) after this much good behaviour;
#: shorter than the default 30 s so the warm-up stays short
TRUST_AFTER_S = 2.0
WARM_UP_S = 4.0
_SAMPLE = re.compile(r'^(\w+)\{reason="([^"]*)"\} (\S+)$')


def telemetry(device: str, seq: int, boot: int = 1) -> bytes:
    """One 10-port telemetry message stamped now."""
    return encode(
        Telemetry(
            device=device,
            boot=boot,
            seq=seq,
            ts=time.time(),
            model="cw-pile-10",
            ports={
                "voltage": [230.0] * PORTS,
                "current": [1.5] * PORTS,
                "power": [345.0] * PORTS,
                "socket_temp": [31.5] * PORTS,
            },
        )
    )


def flood(port: int, ids: list[str], limits: tuple[float, int], sync: tuple[Any, Any, Any]) -> None:
    """Publish valid telemetry round-robin over ``ids`` as fast as possible (QoS 0) for
    ``limits`` = (seconds, at most messages) once ``go`` is set; ``sync`` = (out, ready, go):
    ``out`` (a shared array) gets [count, start, end] on the monotonic clock (one clock for
    every process on Linux). Runs in a child process."""
    seconds, max_msgs = limits
    out, ready, go = sync
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{ids[0]}-{time.monotonic_ns()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.set()
    go.wait(120)
    n = 0
    start = time.monotonic()
    end = start + seconds
    try:
        while n < max_msgs and time.monotonic() < end:
            device = ids[n % len(ids)]
            info = client.publish(
                topics.device_topic(device, topics.TELEMETRY), telemetry(device, n // len(ids)), qos=0
            )
            n += 1
            if n % 500 == 0:
                info.wait_for_publish(10)  # bounds the client's own queue
    finally:
        out[:] = [float(n), start, time.monotonic()]
        client.disconnect()
        client.loop_stop()


class RealDevices:
    """``devices`` ids at 1 Hz each, QoS 1, no re-sends; staleness = publish → application ack."""

    def __init__(self, port: int, devices: list[str]) -> None:
        self.devices = devices
        self.published: dict[tuple[str, int], float] = {}
        self.staleness: dict[tuple[str, int], float] = {}
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"real-{time.monotonic_ns()}")
        self.client.on_message = self._on_ack
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(topics.device_filter(topics.ACK, d), 1) for d in devices])
        self.client.loop_start()
        status = Status(agent=AGENT, online=True, boot=1, ts=time.time(), devices=devices)
        self.client.publish(topics.agent_status_topic(AGENT), encode(status), qos=1, retain=True)
        self._seq = 0

    def _on_ack(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        ack = decode_message(bytes(msg.payload))
        if not isinstance(ack, Ack):
            return
        now = time.monotonic()
        with self._lock:
            for r in ack.ranges:
                for seq in range(r.lo, min(r.hi, self._seq) + 1):
                    sent = self.published.get((ack.device, seq))
                    if sent is not None and (ack.device, seq) not in self.staleness:
                        self.staleness[(ack.device, seq)] = now - sent

    def run(self, seconds: float) -> None:
        """One message per device per second, spread evenly over the second."""
        gap = 1.0 / len(self.devices)
        end = time.monotonic() + seconds
        next_at = time.monotonic()
        while time.monotonic() < end:
            seq = self._seq
            for device in self.devices:
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                with self._lock:
                    self.published[(device, seq)] = time.monotonic()
                self.client.publish(topics.device_topic(device, topics.TELEMETRY), telemetry(device, seq), 1)
                next_at += gap
            self._seq = seq + 1

    def window(self, t0: float, t1: float) -> list[float]:
        """Staleness of the messages published within [t0, t1] (the acked ones)."""
        with self._lock:
            keys = [k for k, t in self.published.items() if t0 <= t <= t1]
            return sorted(self.staleness[k] for k in keys if k in self.staleness)

    def lost(self) -> int:
        with self._lock:
            return sum(1 for k in self.published if k not in self.staleness)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _get(url: str) -> bytes:
    if not url.startswith("http://127.0.0.1:"):
        raise BenchError(f"refusing to open {url!r}")
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback checked above
        return bytes(resp.read())


def by_reason(metrics_text: str, name: str) -> dict[str, float]:
    """Samples of one metric labelled by ``reason`` in a Prometheus exposition text."""
    out: dict[str, float] = {}
    for raw in metrics_text.splitlines():
        m = _SAMPLE.match(raw)
        if m and m.group(1) == name:
            out[m.group(2)] = float(m.group(3))
    return out


def _metric(metrics_text: str, name: str) -> float:
    return sum(
        float(raw.rpartition(" ")[2]) for raw in metrics_text.splitlines() if raw.startswith(name + " ")
    )


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


@contextmanager
def gateway_process(cfg: GatewayConfig, tmp: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The real gateway as a child process; stopped by PID."""
    path = tmp / "gateway.yaml"
    path.write_bytes(msgspec.yaml.encode(cfg))
    with (tmp / "gateway.log").open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chargewatch_cli",
                "gateway",
                "--config",
                str(path),
                "--log-level",
                "WARNING",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{cfg.http.port}/metrics"
        wait(lambda: proc.poll() is None and bool(_get(url)), "gateway", 30)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def bench_config(tmp: Path, mqtt_port: int, store: StoreConfig) -> GatewayConfig:
    return GatewayConfig(
        site="bench",
        mqtt=MqttConfig(url=f"mqtt://127.0.0.1:{mqtt_port}", client_id="cw-bench-flood"),
        store=store,
        spool=SpoolConfig(
            path=str(tmp / "spool.sqlite"),
            state_path=str(tmp / "state.sqlite"),
            analytics_path=str(tmp / "analytics.ckpt"),
        ),
        http=HttpConfig(port=free_port()),
        limits=LimitsConfig(trust_after_s=TRUST_AFTER_S),
        liveness=LivenessConfig(device_keepalive_s=5.0, tick_s=0.5),
    )


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    deadline = time.monotonic() + args.timeout
    with mosquitto(tmp, max_queued=None) as port, _store(args.store, tmp) as store:
        cfg = bench_config(tmp, port, store)
        with gateway_process(cfg, tmp) as gw:
            real = RealDevices(port, [f"real-{i}" for i in range(args.devices)])
            try:
                real.run(WARM_UP_S)  # the real devices become known, then trusted
                before = _get(f"http://127.0.0.1:{cfg.http.port}/metrics").decode()
                trusted = _metric(before, "cw_devices_trusted")
                ctx = mp.get_context("spawn")
                ids = [f"new-{i}" for i in range(args.new_ids)]
                go = ctx.Event()
                flooders = [
                    (["flood-0"], ctx.Array("d", 3), ctx.Event()),
                    (ids, ctx.Array("d", 3), ctx.Event()),
                ]
                procs = [
                    ctx.Process(
                        target=flood, args=(port, who, (args.flood_seconds, args.flood_max), (out, ready, go))
                    )
                    for who, out, ready in flooders
                ]
                for p in procs:
                    p.start()
                for _who, _out, ready in flooders:
                    if not ready.wait(max(1.0, deadline - time.monotonic())):
                        raise BenchError("a flood publisher did not connect in time")
                go.set()
                cpu0 = _cpu_s(gw.pid)
                real.run(args.flood_seconds + 1.0)  # the flood runs within this
                cpu1 = _cpu_s(gw.pid)
                for p in procs:
                    p.join(max(1.0, deadline - time.monotonic()))
                    if p.exitcode is None:
                        p.kill()
                        raise BenchError("a flood publisher did not finish in time")
                real.run(4.0)
                time.sleep(2.0)  # the last acks
                rss, peak = _rss_mb(gw.pid)
                text = _get(f"http://127.0.0.1:{cfg.http.port}/metrics").decode()
                alerts = json.loads(_get(f"http://127.0.0.1:{cfg.http.port}/api/alerts"))
            finally:
                real.close()
    t0 = min(out[1] for _who, out, _ready in flooders)
    t1 = max(out[2] for _who, out, _ready in flooders)
    during = real.window(t0, t1)
    refused = by_reason(text, "cw_ingest_rejected_total")
    sampled_out = sum(by_reason(text, "cw_ingest_dead_letters_sampled_out_total").values())
    real_acked = len(real.staleness)
    flood_sent = float(sum(out[0] for _who, out, _ready in flooders))
    flood_accepted = _metric(text, "cw_ingest_messages_total") - real_acked
    flood_ids = {"flood-0", *ids}
    out = {
        "real_devices": float(args.devices),
        "real_published": float(len(real.published)),
        "real_lost": float(real.lost()),
        "staleness_p50_s": pct(during, 0.50),
        "staleness_p99_s": pct(during, 0.99),
        "staleness_max_s": during[-1] if during else float("nan"),
        "trusted_devices_at_flood_start": trusted,
        "flood_seconds": t1 - t0,
        "flood_sent": flood_sent,
        "flood_msgs_per_s": flood_sent / (t1 - t0),
        "flood_accepted": flood_accepted,
    }
    out |= {f"flood_refused_{reason}": n for reason, n in sorted(refused.items())}
    out["flood_dead_letter_rows_sampled_out"] = sampled_out
    out["flood_broker_or_unaccounted"] = flood_sent - flood_accepted - sum(refused.values())
    out["offline_alerts_for_flood_ids"] = float(
        sum(1 for a in alerts if a["kind"] == "device_offline" and a["device"] in flood_ids)
    )
    out["gateway_cpu_share_during_flood"] = (cpu1 - cpu0) / (args.flood_seconds + 1.0)
    out["gateway_rss_mb"] = rss
    out["gateway_peak_rss_mb"] = peak
    return out


@contextmanager
def _store(kind: str, tmp: Path) -> Iterator[StoreConfig]:
    if kind == "victoria":
        with victoria(tmp) as url:
            yield StoreConfig(kind="influx_v2", url=url, org="bench", bucket="cw")
    else:
        yield StoreConfig(kind="sqlite", path=str(tmp / "ts.sqlite"))


def main(argv: list[str]) -> int:
    """Entry point of ``chargewatch bench flood``."""
    parser = argparse.ArgumentParser(prog="chargewatch bench flood", description=__doc__)
    parser.add_argument("--devices", type=int, default=10, help="real devices at 1 Hz each")
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument(
        "--flood-max", type=int, default=300_000, help="messages per flood publisher, at most"
    )
    parser.add_argument("--new-ids", type=int, default=5000, help="never-seen ids the second flooder cycles")
    parser.add_argument("--store", choices=["sqlite", "victoria"], default="sqlite")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds allowed for the whole run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args(argv)
    if not 1 <= args.devices <= 200:
        parser.error("--devices must be within 1..200")
    if not 1 <= args.flood_seconds <= 120:
        parser.error("--flood-seconds must be within 1..120")
    if not 1 <= args.new_ids <= 1_000_000 or not 1 <= args.flood_max <= 10_000_000:
        parser.error("--new-ids must be within 1..1,000,000 and --flood-max within 1..10,000,000")
    with tempfile.TemporaryDirectory(prefix="cw-bench-flood-") as d:
        try:
            figures = _run(args, Path(d))
        except (ChargeWatchError, TimeoutError, OSError) as exc:
            print(f"chargewatch bench flood: {exc or 'out of time'}")
            return 1
    for key, value in figures.items():
        print(f"{key:36s} {value:12.3f}")
    if args.json:
        print(json.dumps({k: round(v, 4) for k, v in figures.items()}))
    return 0

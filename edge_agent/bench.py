"""``chargewatch bench agent [--json] [--piles N] [--seconds S] [--drain N]``.

1. Starts ``chargewatch sim`` in another process with N ``cw-pile-10`` piles, each on its own
   Modbus TCP port, and runs an Agent (no MQTT link: polling, decoding, interlocks, outbox
   commits) polling them at 1 Hz; the agent process's CPU is measured with
   ``time.process_time`` over a bounded window after a warm-up.
2. Starts a Mosquitto on a free loopback port and runs the outbox drain benchmark of
   :func:`edge_agent.bench_drain.drain_bench` against it.
With ``--json`` the last line is one JSON object with ``piles``, ``cpu_fraction_of_core``,
``cpu_us_per_device_poll``, ``drain_msgs_per_s``, ``paho_msgs_per_s`` and ``drain_ratio``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from chargewatch import logs
from edge_agent.agent import Agent
from edge_agent.bench_drain import drain_bench
from edge_agent.config import AgentConfig, DeviceConfig, TcpBus, validate_config
from edge_agent.outbox import OutboxSettings


def _site(n: int) -> str:
    lines = ["site: bench", "start_time: 2025-07-15T12:00:00+08:00", "seed: 1", "ambient: summer", "devices:"]
    lines += [
        f"  - {{id: pile-{i:04d}, model: cw-pile-10, transport: tcp, host: 127.0.0.1, port: 0, unit: 1}}"
        for i in range(n)
    ]
    return "\n".join(lines) + "\n"


async def _start_sim(workdir: Path, n: int) -> tuple[asyncio.subprocess.Process, list[dict[str, object]]]:
    site = workdir / "site.yaml"
    site.write_text(_site(n))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargewatch_cli", "sim", "--site", str(site), "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    endpoints: list[dict[str, object]] = []
    async with asyncio.timeout(60):
        while len(endpoints) < n:
            line = await proc.stdout.readline()
            if not line:
                raise RuntimeError(
                    f"chargewatch sim exited with {await proc.wait()} before serving {n} piles"
                )
            endpoints.append(json.loads(line))
    return proc, endpoints


async def _poll_cpu(workdir: Path, n: int, seconds: float) -> dict[str, float]:
    proc, endpoints = await _start_sim(workdir, n)
    try:
        buses = [
            TcpBus(
                name=f"b{i}",
                host=str(ep["host"]),
                port=int(str(ep["port"])),
                timeout_s=0.3,
                devices=[DeviceConfig(id=str(ep["device"]), unit=int(str(ep["unit"])), model="cw-pile-10")],
            )
            for i, ep in enumerate(endpoints)
        ]
        raw = AgentConfig(
            agent_id="bench",
            buses=list(buses),
            outbox=OutboxSettings(
                path=str(workdir / "outbox.sqlite3"), synchronous="normal", capacity=10_000_000
            ),
        )
        async with Agent(validate_config(raw, workdir / "agent.yaml")) as agent:
            await asyncio.sleep(2.0)
            polls0 = sum(d.polls for b in agent.buses.values() for d in b.devices.values())
            cpu0, wall0 = time.process_time(), time.monotonic()
            await asyncio.sleep(seconds)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            polls = sum(d.polls for b in agent.buses.values() for d in b.devices.values()) - polls0
    finally:
        proc.terminate()
        async with asyncio.timeout(15):
            await proc.wait()
    return {
        "piles": float(n),
        "device_polls": float(polls),
        "polls_per_s": round(polls / wall, 1),
        "cpu_fraction_of_core": round(cpu / wall, 4),
        "cpu_us_per_device_poll": round(cpu / max(polls, 1) * 1e6, 1),
    }


async def _drain(workdir: Path, n: int) -> dict[str, float]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    broker = await asyncio.create_subprocess_exec(
        binary, "-c", str(conf), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        async with asyncio.timeout(10):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                except OSError:
                    await asyncio.sleep(0.05)
        return await drain_bench(f"mqtt://127.0.0.1:{port}", n)
    finally:
        broker.terminate()
        async with asyncio.timeout(15):
            await broker.wait()


async def _run(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cw-bench-agent-") as tmp:
        work = Path(tmp)
        out = await _poll_cpu(work, args.piles, args.seconds)
        print(
            f"agent polling {args.piles} piles at 1 Hz: {out['polls_per_s']} device polls/s, "
            f"{out['cpu_us_per_device_poll']} µs CPU per device poll, "
            f"{out['cpu_fraction_of_core'] * 100:.1f} % of one core (target < 25 %)"
        )
        drain = await _drain(work, args.drain)
        print(
            f"outbox drain: {drain['drain_msgs_per_s']} msg/s vs plain paho QoS 1 "
            f"{drain['paho_msgs_per_s']} msg/s (ratio {drain['drain_ratio']})"
        )
    return {**out, **{k: v for k, v in drain.items() if k != "n"}}


def main(argv: list[str]) -> int:
    """Entry point of ``chargewatch bench agent``."""
    p = argparse.ArgumentParser(prog="chargewatch bench agent", description=__doc__.splitlines()[0])
    p.add_argument("--piles", type=int, default=100, help="simulated 10-port piles polled at 1 Hz (100)")
    p.add_argument("--seconds", type=float, default=10.0, help="CPU measurement window (10 s)")
    p.add_argument("--drain", type=int, default=20_000, help="messages for the drain benchmark (20000)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    args = p.parse_args(argv)
    logs.setup("WARNING")
    if not 1 <= args.piles <= 1000 or not 1 <= args.seconds <= 120 or not 100 <= args.drain <= 1_000_000:
        p.error("--piles 1..1000, --seconds 1..120, --drain 100..1000000")
    figures = asyncio.run(_run(args))
    if args.json:
        print(json.dumps(figures))
    return 0

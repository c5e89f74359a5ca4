"""``chargewatch bench sim``: how many ports one process simulates *and serves* at 1 Hz, and its CPU.

The bench builds a site of N piles (``cw-pile-10``, 10 ports each) on Modbus TCP, runs it in
real time (speed 1) and starts a client in *another* process that reads every register of
every pile once per second over TCP, so the serving cost is real. Process CPU time of the
simulator (``time.process_time``) is measured over a bounded window after a warm-up.
With ``--json`` the last stdout line is one JSON object (``ports``, ``cpu_fraction_of_core``…).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chargewatch import logs
from chargewatch.profiles import Table, find_profile
from firmware_sim.runner import DeviceFactory, SiteRunner
from firmware_sim.site import DeviceSpec, Site, SiteSpec, validate_site

MODEL = "cw-pile-10"
_WARMUP_S = 3.0
_MAX_READ: dict[Table, int] = {"coil": 2000, "discrete": 2000, "holding": 125, "input": 125}


def whole_map_reads(model: str) -> list[tuple[str, int, int]]:
    """(table, address, count) requests that read every table of ``model`` once, in maximal blocks."""
    profile = find_profile(model)
    out: list[tuple[str, int, int]] = []
    for table, step in _MAX_READ.items():
        size = profile.table_size(table)
        out.extend((table, a, min(step, size - a)) for a in range(0, size, step))
    return out


def bench_site(piles: int, seed: int = 1) -> Site:
    """A site of ``piles`` cw-pile-10 on their own TCP ports (OS-chosen)."""
    devices = [DeviceSpec(id=f"p{i:04d}", model=MODEL, transport="tcp", port=0) for i in range(piles)]
    spec = SiteSpec(
        site="bench", start_time=datetime(2025, 7, 15, 10, tzinfo=UTC), devices=devices, seed=seed
    )
    return validate_site(spec, Path("<bench>"))


def measure_step_cost(site: Site, steps: int, factory: DeviceFactory | None) -> float:
    """CPU µs per port per simulated second for physics + register encoding (no serving)."""

    async def run() -> float:
        async with SiteRunner(site, speed=None, factory=factory) as runner:
            runner.advance(2)
            t0 = time.process_time()
            runner.advance(steps)
            cpu = time.process_time() - t0
        ports = sum(s.image.profile.ports for s in runner.devices.values())
        return cpu / steps / ports * 1e6

    return asyncio.run(run())


async def _serve_and_measure(
    site: Site, seconds: float, factory: DeviceFactory | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    async with SiteRunner(site, speed=1.0, factory=factory) as runner:
        ports = [ep.port for ep in runner.endpoints]
        client = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "firmware_sim.bench",
            "--client",
            json.dumps(ports),
            "--seconds",
            str(seconds + _WARMUP_S),
            stdout=subprocess.PIPE,
        )
        try:
            await asyncio.sleep(_WARMUP_S)
            cpu0, wall0, steps0 = time.process_time(), time.monotonic(), runner.steps
            await asyncio.sleep(seconds)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            steps = runner.steps - steps0
            async with asyncio.timeout(seconds + 30):
                out, _ = await client.communicate()
        finally:
            if client.returncode is None:
                client.kill()
                await client.wait()
    lines = out.decode().strip().splitlines()
    stats: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    return {"cpu_s": cpu, "wall_s": wall, "steps": steps}, stats


def run_bench(piles: int, seconds: float, factory: DeviceFactory | None = None) -> dict[str, Any]:
    """Measure; returns the result object printed by ``--json``."""
    site = bench_site(piles)
    ports = piles * find_profile(MODEL).ports
    step_us = measure_step_cost(site, 5, factory)
    server, client = asyncio.run(_serve_and_measure(site, seconds, factory))
    reads = int(client.get("requests_ok", 0))
    cpu_fraction = server["cpu_s"] / server["wall_s"]
    on_time = client.get("rounds_late", 1) == 0 and server["steps"] >= round(server["wall_s"]) - 1
    return {
        "bench": "sim",
        "piles": piles,
        "ports": ports,
        "seconds": round(server["wall_s"], 2),
        "cpu_s": round(server["cpu_s"], 3),
        "cpu_fraction_of_core": round(cpu_fraction, 4),
        "step_us_per_port": round(step_us, 2),
        "steps": server["steps"],
        "steps_expected": round(server["wall_s"]),
        "client_rounds": client.get("rounds", 0),
        "client_requests_ok": reads,
        "client_requests_failed": client.get("requests_failed", 0),
        "client_round_p99_s": client.get("round_p99_s"),
        "keeps_1hz": bool(on_time),
    }


async def _client(ports: list[int], seconds: float) -> dict[str, Any]:
    """Read every pile once per second over TCP; one connection per pile."""
    from pymodbus.client import AsyncModbusTcpClient  # noqa: PLC0415 - only the client process needs it

    clients = [AsyncModbusTcpClient("127.0.0.1", port=p, timeout=2.0, retries=0) for p in ports]
    await asyncio.gather(*(c.connect() for c in clients))
    ok = failed = late = 0
    reads = whole_map_reads(MODEL)
    rounds: list[float] = []

    async def read_pile(c: AsyncModbusTcpClient) -> tuple[int, int]:
        good = bad = 0
        for table, address, count in reads:
            try:
                if table == "input":
                    rsp = await c.read_input_registers(address, count=count, device_id=1)
                elif table == "coil":
                    rsp = await c.read_coils(address, count=count, device_id=1)
                elif table == "holding":
                    rsp = await c.read_holding_registers(address, count=count, device_id=1)
                else:
                    rsp = await c.read_discrete_inputs(address, count=count, device_id=1)
                good, bad = (good + 1, bad) if not rsp.isError() else (good, bad + 1)
            except Exception:
                bad += 1
        return good, bad

    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        t0 = time.monotonic()
        for good, bad in await asyncio.gather(*(read_pile(c) for c in clients)):
            ok, failed = ok + good, failed + bad
        took = time.monotonic() - t0
        rounds.append(took)
        late += took > 1.0
        n += 1
        await asyncio.sleep(max(0.0, start + n - time.monotonic()))
    for c in clients:
        c.close()
    rounds.sort()
    return {
        "rounds": len(rounds),
        "rounds_late": late,
        "requests_ok": ok,
        "requests_failed": failed,
        "round_p99_s": round(rounds[int(0.99 * (len(rounds) - 1))], 4) if rounds else None,
    }


def main(argv: list[str]) -> int:
    """Entry point dispatched from ``chargewatch bench sim``."""
    p = argparse.ArgumentParser(prog="chargewatch bench sim", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.add_argument("--piles", type=int, default=200, help="piles of 10 ports (200)")
    p.add_argument("--seconds", type=float, default=15.0, help="measurement window after warm-up (15)")
    p.add_argument("--client", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.client is not None:
        print(json.dumps(asyncio.run(_client(json.loads(args.client), args.seconds))), flush=True)
        return 0
    if not 1 <= args.piles <= 1000 or not 1 <= args.seconds <= 120:
        p.error("--piles must be 1..1000 and --seconds 1..120")
    logs.setup("WARNING")
    result = run_bench(args.piles, args.seconds)
    print(
        f"sim bench: {result['ports']} ports ({result['piles']} piles) simulated and served at 1 Hz: "
        f"{result['cpu_fraction_of_core']:.1%} of one core over {result['seconds']} s; "
        f"physics+encode {result['step_us_per_port']} µs per port-step; "
        f"client {result['client_requests_ok']} requests ok, {result['client_requests_failed']} failed, "
        f"round p99 {result['client_round_p99_s']} s; keeps 1 Hz: {result['keeps_1hz']}"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main(sys.argv[1:]))

"""``chargewatch bench outage``: the alert stream through broker, link, gateway, store and agent
faults (see :mod:`demo.outage`), with its own Mosquitto and InfluxDB 1.x on loopback ports.

Prints one line per fault (``double_pages``, ``early_resolves``, ``false_offline_pages``,
``phantom_gaps``: all targets 0; ``agent_pages``: 1 for a killed or partitioned agent, within
keepalive + 5 s; the ``/health`` flip latency against its bound) and, with ``--json``, one JSON
object on the last line. ``--scale`` shrinks every duration and time-out (1.0 = the real 120 s
faults, about 25 minutes; the default 0.25 takes about 8).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from demo._procs import Child, OutageError, binary, can_connect, free_port, http_status
from demo.outage import FAULTS, OutageRun, summary


def _mosquitto(tmp: Path) -> tuple[Child, int]:
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    return Child(
        [binary("mosquitto"), "-c", str(conf)], tmp / "mosquitto.log", lambda: can_connect(port)
    ), port


def _influxd(tmp: Path) -> tuple[Child, str]:
    port, rpc = free_port(), free_port()
    conf = tmp / "influxdb.conf"
    conf.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n[meta]\n  dir = "{tmp}/meta"\n'
        f'[data]\n  dir = "{tmp}/data"\n  wal-dir = "{tmp}/wal"\n  query-log-enabled = false\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
    )
    url = f"http://127.0.0.1:{port}"
    argv = [binary("influxd"), "run", "-config", str(conf)]
    return Child(argv, tmp / "influxd.log", lambda: http_status(f"{url}/ping") == 204), url


def run(workdir: Path, scale: float, faults: list[str]) -> dict[str, Any]:
    """Start the servers, run the sequence, stop the servers; the summary."""
    broker, broker_port = _mosquitto(workdir)
    store, store_url = _influxd(workdir)
    broker.start()
    try:
        store.start()
        try:
            outage = OutageRun(
                workdir,
                broker=broker,
                broker_port=broker_port,
                store=store,
                store_url=store_url,
                http_port=free_port(),
                scale=scale,
                faults=faults,
            )
            return summary(asyncio.run(outage.run()))
        finally:
            store.stop()
    finally:
        broker.stop()


def main(argv: list[str]) -> int:
    """Entry point of ``chargewatch bench outage``."""
    parser = argparse.ArgumentParser(prog="chargewatch bench outage", description=__doc__)
    parser.add_argument("--scale", type=float, default=0.25, help="durations × this (0.05..1.0)")
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated subset, in order")
    parser.add_argument("--workdir", type=Path, default=None, help="keep configs and logs here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args(argv)
    if not 0.05 <= args.scale <= 1.0:
        parser.error("--scale must be within 0.05..1.0")
    faults = [f for f in args.faults.split(",") if f]
    try:
        if args.workdir is not None:
            args.workdir.mkdir(parents=True, exist_ok=True)
            result = run(args.workdir, args.scale, faults)
        else:
            with tempfile.TemporaryDirectory(prefix="cw-bench-outage-") as d:
                result = run(Path(d), args.scale, faults)
    except OutageError as exc:
        parser.exit(1, f"chargewatch bench outage: {exc}\n")
    for name, f in result["faults"].items():
        print(
            f"{name:18} double_pages={f['double_pages']} early_resolves={f['early_resolves']} "
            f"false_offline_pages={f['false_offline_pages']} phantom_gaps={f['phantom_gaps']} "
            f"agent_pages={f['agent_pages']} (latency {f['agent_page_latency_s']} s) "
            f"health_flip={f['health_flip_s']} s (bound {f['health_bound_s']} s)"
        )
    print(
        f"overheat alert ids {result['overheat_ids']}; {result['published_changes']} changes published, "
        f"stored == published: {result['stored_equals_published']}; "
        f"health cleared: {result['health_cleared']}"
    )
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0

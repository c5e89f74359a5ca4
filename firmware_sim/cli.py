"""``chargewatch sim``: serve a site's simulated devices over Modbus until SIGINT/SIGTERM.

On start, one JSON line per device goes to stdout with its endpoint (device, model,
transport, host and port or serial path, unit); logs go to stderr as key=value lines.
``--check`` validates the site (and scenario) and that every endpoint can be served now (TCP
ports free, serial lines present) and exits. Exit codes: 0 after a clean stop or a passed check,
2 for a bad command line or config, 1 if a check or serving failed (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from chargewatch import logs, preflight
from chargewatch.errors import ChargeWatchError, ConfigError
from firmware_sim.faults import Fault, load_scenario
from firmware_sim.runner import SiteRunner, scenario_faults
from firmware_sim.site import Site, load_site

log = logging.getLogger(__name__)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chargewatch sim", description=__doc__.splitlines()[0])
    p.add_argument("--site", required=True, type=Path, help="site file, e.g. configs/sites/example.yaml")
    p.add_argument("--speed", type=_positive, default=1.0, help="simulated seconds per wall second (1)")
    p.add_argument("--seed", type=int, default=None, help="override the site's seed")
    p.add_argument("--scenario", type=Path, default=None, help="fault scenario file (faults by device id)")
    p.add_argument("--labels", type=Path, default=None, help="append ground-truth labels (JSON Lines) here")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (INFO)")
    p.add_argument("--check", action="store_true", help="validate the site and its endpoints, then exit")
    return p


def check(site: Site) -> list[str]:
    """Every bus can be served now: TCP ports free (0 = any), serial lines present."""
    done: list[str] = []
    for bus in site.buses:
        names = ", ".join(d.id for d in bus.devices)
        spec = bus.spec
        if spec.transport == "rtu":
            done.append(preflight.serial_present(spec.serial, f"serial line of {names}"))
        elif spec.port:
            done.append(preflight.port_free(spec.host, spec.port, f"Modbus port of {names}"))
    return done


async def serve(site: Site, args: argparse.Namespace, faults: list[tuple[str, Fault]]) -> None:
    """Run the site until SIGINT or SIGTERM, then close everything."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = SiteRunner(site, speed=args.speed, seed=args.seed, faults=faults, labels=args.labels)
    try:
        async with runner:
            for ep in runner.endpoints:
                sys.stdout.write(json.dumps(ep.to_json()) + "\n")
            sys.stdout.flush()
            await runner.wait(stop)
            log.info(logs.kv("sim_stopping", site=site.spec.site, sim_time=runner.time))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: list[str]) -> int:
    """Entry point dispatched from ``chargewatch sim``."""
    args = _parser().parse_args(argv)
    logs.setup(args.log_level)
    try:
        site = load_site(args.site)
        faults = []
        if args.scenario is not None:
            faults = scenario_faults(load_scenario(args.scenario), site, args.scenario)
        passed = check(site)
        if args.check:
            print(f"{args.site}: ok ({'; '.join(passed)})")
            return 0
    except ConfigError as exc:
        print(f"chargewatch sim: {exc}", file=sys.stderr)
        return 2
    except preflight.CheckFailedError as exc:
        print(f"chargewatch sim: {exc}", file=sys.stderr)
        return 1
    try:
        asyncio.run(serve(site, args, faults))
    except ConfigError as exc:
        print(f"chargewatch sim: {exc}", file=sys.stderr)
        return 2
    except ChargeWatchError as exc:
        log.error(logs.kv("sim_failed", site=site.spec.site, error=exc))  # noqa: TRY400 - message says it all
        return 1
    return 0

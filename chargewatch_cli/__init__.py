"""The ``chargewatch`` command: one entry point, each subcommand owned by its component.

Components are imported lazily so that ``chargewatch sim`` does not load the gateway.
Each target module exposes ``main(argv: list[str]) -> int``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Callable
from typing import cast

COMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("firmware_sim.cli", "serve simulated piles and blockers over Modbus TCP / RTU"),
    "agent": ("edge_agent.cli", "run an edge agent: Modbus in, MQTT out"),
    "gateway": ("gateway.cli", "run the gateway: MQTT in, validated and stored, alerts out"),
    "demo": ("demo", "zero-setup demo on embedded parts"),
    "eval": ("evaluation.cli", "score the detectors on the simulator's labelled scenarios"),
    "broker-acl": ("chargewatch_cli.broker_acl", "write the Mosquitto ACL from agent and gateway configs"),
    "keygen": ("chargewatch_cli.keygen", "new Ed25519 key pair for signing operator commands"),
    "hash-password": ("chargewatch_cli.hash_password", "salted scrypt hash of an API user's password"),
    "cmd": ("gateway.commands.cli", "sign and send one operator command, wait for the agent's reply"),
    "report": ("gateway.report.cli", "daily supervision report of a site: HTML with charts, CSVs"),
    "evidence": ("gateway.evidence.cli", "list, export and verify an alert's sealed black-box evidence"),
    "screenshot": ("demo.screenshot", "pictures of the control room from a live demo (headless Chromium)"),
}
BENCHES: dict[str, tuple[str, str]] = {
    "sim": ("firmware_sim.bench", "ports one process simulates and serves at 1 Hz"),
    "agent": ("edge_agent.bench", "CPU per device poll and outbox drain throughput"),
    "ingest": ("gateway.bench", "gateway end to end against subscriber and store ceilings"),
    "flood": ("gateway.bench_flood", "real devices' loss and staleness while a flood hits the gateway"),
    "detector": ("analytics.bench", "µs per port-sample and state bytes per port"),
    "outage": ("demo.bench_outage", "the alert stream through broker, link, gateway, store and agent faults"),
    "nab": ("evaluation.nab", "the generic detector's NAB scores (3 profiles) and µs per sample"),
    "fuzz": ("gateway.bench_fuzz", "hostile inputs through the real ingest path: inputs/s, uncaught = 0"),
}


def _usage(table: dict[str, tuple[str, str]], prog: str) -> str:
    width = max(map(len, table))
    lines = [f"usage: {prog} <command> [options] | {prog} --version", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in table.items()]
    return "\n".join(lines)


def _dispatch(table: dict[str, tuple[str, str]], prog: str, argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage(table, prog))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in table:
        print(f"{prog}: unknown command {name!r}\n\n{_usage(table, prog)}", file=sys.stderr)
        return 2
    module = importlib.import_module(table[name][0])
    entry = cast(Callable[[list[str]], int], module.main)
    return entry(rest)


def version() -> str:
    """The installed distribution's version (the package metadata, one source with pyproject)."""
    try:
        return importlib.metadata.version("chargewatch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: pip install .)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``chargewatch`` console script."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--version":
        print(f"chargewatch {version()}")
        return 0
    if args and args[0] == "bench":
        return _dispatch(BENCHES, "chargewatch bench", args[1:])
    table = {**COMMANDS, "bench": ("", "benchmarks: " + ", ".join(BENCHES))}
    if args and args[0] != "bench" and args[0] in COMMANDS:
        return _dispatch(COMMANDS, "chargewatch", args)
    return _dispatch(table, "chargewatch", args)


if __name__ == "__main__":
    raise SystemExit(main())

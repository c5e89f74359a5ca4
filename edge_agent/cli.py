"""``chargewatch agent --config FILE``: validate the config, then run the agent until a signal."""

from __future__ import annotations

import argparse
import asyncio
import sys

from chargewatch import logs
from chargewatch.errors import ConfigError
from edge_agent.agent import run_agent
from edge_agent.config import load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chargewatch agent", description="run an edge agent: Modbus in, MQTT out"
    )
    p.add_argument("--config", required=True, help="agent YAML (see configs/agent.example.yaml)")
    p.add_argument("--check", action="store_true", help="validate the config and exit")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def main(argv: list[str]) -> int:
    """Entry point dispatched from ``chargewatch_cli``; returns the process exit code."""
    args = _parser().parse_args(argv)
    logs.setup(args.log_level)
    try:
        loaded = load_config(args.config)
    except ConfigError as exc:
        print(f"chargewatch agent: {exc}", file=sys.stderr)
        return 2
    if args.check:
        devices = sum(len(b.devices) for b in loaded.agent.buses)
        print(f"{loaded.path}: ok ({len(loaded.agent.buses)} buses, {devices} devices)")
        return 0
    asyncio.run(run_agent(loaded))
    return 0

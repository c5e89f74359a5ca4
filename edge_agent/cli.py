"""``chargewatch agent --config FILE``: validate the config, then run the agent until a signal.

``--check-config`` validates the config (and every profile it uses) and exits; ``--check`` also
checks what the agent reaches: the broker (TCP/TLS connect and CONNACK with the configured
credentials), every Modbus TCP endpoint, every serial line, the outbox folder. Exit codes: 0 ok
or a clean stop, 2 bad config, 1 a failed check or a fatal error; failures are one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from chargewatch import logs, preflight
from chargewatch.errors import ChargeWatchError, ConfigError
from chargewatch.statefile import file_version
from edge_agent.agent import run_agent
from edge_agent.config import LoadedConfig, SerialBus, load_config
from edge_agent.outbox import store as outbox_store

PROG = "chargewatch agent"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="run an edge agent: Modbus in, MQTT out")
    p.add_argument("--config", required=True, help="agent YAML (see configs/agent.example.yaml)")
    p.add_argument(
        "--check", action="store_true", help="validate the config and reach broker, buses and outbox; exit"
    )
    p.add_argument("--check-config", action="store_true", help="validate the config only and exit")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def check(loaded: LoadedConfig) -> list[str]:
    """Reach everything the agent needs; one line per check passed, CheckFailedError otherwise."""
    agent = loaded.agent
    version = file_version(agent.outbox.path, "agent outbox", len(outbox_store.MIGRATIONS))
    done = [preflight.writable_dir(agent.outbox.path, "outbox.path"), f"outbox schema v{version}"]
    for i, bus in enumerate(agent.buses):
        what = f"buses[{i}] ({bus.name})"
        if isinstance(bus, SerialBus):
            done.append(preflight.serial_present(bus.serial_port, f"{what}.serial_port"))
        else:
            done.append(preflight.tcp_reachable(bus.host, bus.port, f"{what} Modbus endpoint"))
    m = agent.mqtt
    if m is not None:
        try:
            password = m.resolve_password()
        except ConfigError as exc:
            raise ConfigError(f"{loaded.path}: {exc}") from exc
        ep = m.endpoint(password=password, mqtt5=m.protocol == "5")
        done.append(preflight.mqtt_connack(ep, "mqtt broker"))
    return done


def main(argv: list[str]) -> int:
    """Entry point dispatched from ``chargewatch_cli``; returns the process exit code."""
    args = _parser().parse_args(argv)
    logs.setup(args.log_level)
    try:
        loaded = load_config(args.config)
        if args.check_config:
            devices = sum(len(b.devices) for b in loaded.agent.buses)
            print(f"{loaded.path}: ok ({len(loaded.agent.buses)} buses, {devices} devices)")
            return 0
        if args.check:
            passed = check(loaded)
            print(f"{loaded.path}: ok ({'; '.join(passed)})")
            return 0
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except preflight.CheckFailedError as exc:
        print(f"{PROG}: check failed: {exc}", file=sys.stderr)
        return 1
    except ChargeWatchError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    try:
        asyncio.run(run_agent(loaded))
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except ChargeWatchError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0

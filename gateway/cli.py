"""``chargewatch gateway --config FILE``: run the gateway until SIGINT/SIGTERM.

``--check-config`` validates the config (profiles, TLS files, secrets) and exits; ``--check``
also checks what the gateway needs to start and work: the state files' folders, the HTTP port
free, the store answering its ping, the broker accepting a connection with the configured
credentials. ``chargewatch gateway backup|restore`` copy the gateway's state (see
:mod:`gateway.statefiles`). Exit codes: 0 ok or a clean stop, 2 bad config, 1 a failed check or a
fatal error; failures are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from chargewatch import logs, preflight
from chargewatch.errors import ChargeWatchError, ConfigError
from chargewatch.signals import StopSignals
from gateway import statefiles
from gateway.app import Gateway
from gateway.config import GatewayConfig, api_users, load_config, store_token

PROG = "chargewatch gateway"


async def run(cfg: GatewayConfig) -> None:
    """Run a gateway until a signal asks it to stop (clean shutdown) or a task fails."""
    with StopSignals() as sigs:
        async with Gateway(cfg) as gw:
            sigs.attach(gw.stop)
            await gw.wait()


def check_http_port(cfg: GatewayConfig) -> str:
    """The API's port can be bound (port 0 lets the OS choose)."""
    if cfg.http.port == 0:
        return "http.port 0 (any)"
    return preflight.port_free(cfg.http.bind, cfg.http.port, "http.port")


def check(cfg: GatewayConfig) -> list[str]:
    """Reach everything the gateway needs; one line per check passed, CheckFailedError otherwise."""
    sp = cfg.spool
    done = [
        preflight.writable_dir(sp.path, "spool.path"),
        preflight.writable_dir(sp.state_path, "spool.state_path"),
        preflight.writable_dir(sp.analytics_path, "spool.analytics_path"),
        statefiles.check_versions(cfg),
        check_http_port(cfg),
    ]
    st = cfg.store
    if st.kind == "sqlite":
        done.append(preflight.writable_dir(st.path, "store.path"))
    else:
        path = "/ping" if st.kind == "influx_v1" else "/health"
        done.append(preflight.http_ok(st.url.rstrip("/") + path, f"store ({st.kind})"))
    ep = cfg.mqtt.endpoint(mqtt5=False)
    done.append(preflight.mqtt_connack(ep, "mqtt broker"))
    return done


def _secrets(cfg: GatewayConfig) -> None:
    """Every secret the config names can be read (ConfigError names the one that cannot)."""
    cfg.mqtt.resolve_password()
    store_token(cfg.store)
    api_users(cfg.http)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.splitlines()[0], epilog="also: chargewatch gateway backup|restore -h"
    )
    parser.add_argument("--config", required=True, help="gateway YAML (see configs/gateway.example.yaml)")
    parser.add_argument(
        "--check", action="store_true", help="validate the config and reach store, broker, port; exit"
    )
    parser.add_argument("--check-config", action="store_true", help="validate the config only and exit")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str]) -> int:
    """Entry point; 0 after a clean stop, 2 on a config error, 1 on a failed check or fatal error."""
    if argv and argv[0] in {"backup", "restore"}:
        return statefiles.main(argv)
    args = _parser().parse_args(argv)
    logs.setup(args.log_level)
    try:
        cfg = load_config(args.config)
        _secrets(cfg)
        if args.check_config:
            print(f"{args.config}: ok (config)")
            return 0
        if args.check:
            print(f"{args.config}: ok ({'; '.join(check(cfg))})")
            return 0
        check_http_port(cfg)
        asyncio.run(run(cfg))
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except preflight.CheckFailedError as exc:
        print(f"{PROG}: check failed: {exc}", file=sys.stderr)
        return 1
    except (ChargeWatchError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0

"""``chargewatch gateway --config FILE``: run the gateway until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from chargewatch import logs
from chargewatch.errors import ChargeWatchError, ConfigError
from chargewatch.logs import kv
from gateway.app import Gateway
from gateway.config import GatewayConfig, load_config

log = logging.getLogger(__name__)


async def run(cfg: GatewayConfig) -> None:
    """Run a gateway until a signal asks it to stop (clean shutdown) or a task fails."""
    async with Gateway(cfg) as gw:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, gw.stop)
        try:
            await gw.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def main(argv: list[str]) -> int:
    """Entry point; 0 after a clean stop, 2 on a config error, 1 on a fatal runtime error."""
    parser = argparse.ArgumentParser(prog="chargewatch gateway", description=__doc__)
    parser.add_argument("--config", required=True, help="gateway YAML (see configs/gateway.example.yaml)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logs.setup(args.log_level)
    try:
        cfg = load_config(args.config)
        asyncio.run(run(cfg))
    except ConfigError as exc:
        print(f"chargewatch gateway: {exc}", file=sys.stderr)
        return 2
    except ChargeWatchError:
        log.exception(kv("gateway_failed"))
        return 1
    return 0

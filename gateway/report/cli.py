"""``chargewatch report --config gateway.yaml --site S --date YYYY-MM-DD --out DIR``.

Reads the store and the state database named by the gateway's config (it may run beside a
running gateway) and writes the report folder. Exit codes: 0 written, 2 bad arguments or
config (one line on stderr), 1 the store could not be read.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from chargewatch.errors import ChargeWatchError, ConfigError
from gateway.config import load_config
from gateway.report._data import gather
from gateway.report._render import write
from gateway.store.errors import StoreError
from gateway.wiring import make_store


async def build(config: Path, site: str, day: date, out: Path) -> list[Path]:
    """Gather the day from the configured store and state database and write the report."""
    cfg = load_config(config)
    if site != cfg.site:
        raise ConfigError(f"{config}: serves site {cfg.site!r}, not {site!r}. Fix: --site {cfg.site}")
    tz = ZoneInfo(cfg.tariff.timezone)
    async with make_store(cfg.store) as store:
        data = await gather(store, Path(cfg.spool.state_path), site, day, tz)
    return await asyncio.to_thread(write, data, out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="chargewatch report", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="the gateway's config file")
    parser.add_argument("--site", required=True)
    parser.add_argument("--date", required=True, help="YYYY-MM-DD, a local day of the site")
    parser.add_argument("--out", type=Path, required=True, help="folder for index.html, PNGs and CSVs")
    args = parser.parse_args(argv)
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        print(f"chargewatch report: --date {args.date!r} is not YYYY-MM-DD", file=sys.stderr)
        return 2
    try:
        files = asyncio.run(build(args.config, args.site, day, args.out))
    except ConfigError as exc:
        print(f"chargewatch report: {exc}", file=sys.stderr)
        return 2
    except (StoreError, ChargeWatchError) as exc:
        print(f"chargewatch report: {exc}", file=sys.stderr)
        return 1
    print(f"chargewatch report: wrote {len(files)} files to {args.out} (open {args.out / 'index.html'})")
    return 0

"""A writer process for the kill -9 test: drains a spool into InfluxDB, then exits 0."""

from __future__ import annotations

import asyncio
import sys

from gateway.spool import Spool
from gateway.store import InfluxV1Store


async def _main(path: str, url: str) -> None:
    async with InfluxV1Store(url, "cw") as store, Spool(path, store, batch_lines=200, interval=0.01) as spool:
        await spool.flush()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2]))

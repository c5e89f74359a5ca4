"""How many raw line-protocol points per second a store accepts: the ingest benchmark's ceiling."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from gateway.store._http import HttpPool
from gateway.store.errors import StoreConfigError, StoreUnavailableError

BATCH = 5000


def _batch(start: int, size: int) -> bytes:
    """Realistic ``port`` points: 4 tags, 7 float fields, 1,000 devices x 10 ports."""
    base = 1_750_000_000_000
    return "\n".join(
        f"port,device=pile-{(start + i) // 10 % 1000},model=cw-pile-10,port={(start + i) % 10},site=bench "
        f"boot=1.0,seq={float(start + i)!r},voltage=230.1,current={(i % 50) * 0.1!r},power=345.5,"
        f"energy={i * 0.01!r},temp=31.5 {base + start + i}"
        for i in range(size)
    ).encode()


async def store_ceiling(store_url: str, points: int, connections: int = 2) -> float:
    """Points/s that ``store_url`` accepts in 5,000-point batches over ``connections`` keep-alive sockets.

    ``store_url`` is the full write URL, for example ``http://127.0.0.1:8086/write?db=bench&precision=ms``
    (InfluxDB v1; the database must exist) or ``http://127.0.0.1:8428/api/v2/write?bucket=b&precision=ms``
    (VictoriaMetrics, InfluxDB 2.x with a token in the URL's userinfo is not supported). The batches are
    built before the clock starts, so only the store and HTTP are measured.
    """
    parts = urlsplit(store_url)
    pool = HttpPool(f"{parts.scheme}://{parts.netloc}", connections=connections, timeout=60.0)
    target = parts.path + ("?" + parts.query if parts.query else "")
    bodies = [_batch(start, min(BATCH, points - start)) for start in range(0, points, BATCH)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker() -> None:
        while not queue.empty():
            resp = await pool.request("POST", target, queue.get_nowait())
            if resp.status in {401, 403, 404}:
                raise StoreConfigError(store_url, f"HTTP {resp.status} {resp.body[:200]!r}", resp.status)
            if resp.status >= 300:
                raise StoreUnavailableError(store_url, f"HTTP {resp.status} {resp.body[:200]!r}")

    try:
        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for n in range(connections):
                group.create_task(worker(), name=f"ceiling-{n}")
        elapsed = time.perf_counter() - started
    finally:
        await pool.aclose()
    return points / elapsed

"""Live updates for the control room: ``GET /api/events`` as Server-Sent Events.

The gateway calls :meth:`EventHub.publish` from its ingest path (alert changes, acknowledgements,
ingested batches); publishing never awaits, so a slow or dead browser can never hold up ingest.
Each client has a bounded queue: events of a *coalesced* kind (``ingest``: "new data, refetch")
are queued at most once until the client has taken them, and a client whose queue overflows
loses its backlog and gets one ``resync`` event instead (refetch everything). A comment line
every ``heartbeat_s`` keeps proxies from closing an idle stream and finds dead clients.

The hub owns the stream handlers' tasks: :meth:`EventHub.aclose` ends every stream (so the
HTTP server's shutdown does not wait on them) and cancels and awaits any that do not end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web

from chargewatch.logs import kv
from chargewatch.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: event kinds sent at most once per client until taken (they only say "refetch")
COALESCED = frozenset({"ingest"})
_END = b""


class _Client:
    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(size)
        self.pending: set[str] = set()
        self.overflows = 0


def frame(kind: str, data: Mapping[str, Any]) -> bytes:
    """One SSE frame: ``event: kind`` and one ``data:`` line of JSON (never holds a newline)."""
    return b"event: " + kind.encode() + b"\ndata: " + msgspec.json.encode(data) + b"\n\n"


class EventHub:
    """Fan-out of gateway events to the connected browsers (see the module doc)."""

    def __init__(self, *, queue_size: int = 256, heartbeat_s: float = 15.0, max_clients: int = 64) -> None:
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.max_clients = max_clients
        self._clients: dict[_Client, asyncio.Task[Any]] = {}
        self._closed = False
        self.published = 0
        self.overflows = 0  # backlogs dropped for slow clients (each followed by a resync)

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish(self, kind: str, data: Mapping[str, Any]) -> None:
        """Queue an event for every client; never blocks, never raises for a client's sake."""
        if self._closed:
            return
        self.published += 1
        payload = frame(kind, data)
        for client in self._clients:
            if kind in COALESCED:
                if kind in client.pending:
                    continue
                client.pending.add(kind)
            try:
                client.queue.put_nowait((kind, payload))
            except asyncio.QueueFull:
                self._overflow(client)

    def _overflow(self, client: _Client) -> None:
        while not client.queue.empty():
            client.queue.get_nowait()
        client.pending.clear()
        client.overflows += 1
        self.overflows += 1
        client.queue.put_nowait(("resync", frame("resync", {"reason": "client too slow; events dropped"})))
        log.warning(kv("sse_client_overflow", overflows=client.overflows, queue=self.queue_size))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The ``GET /api/events`` handler: stream until the client leaves or the hub closes."""
        if self._closed:
            raise web.HTTPServiceUnavailable(text="shutting down")
        if len(self._clients) >= self.max_clients:
            raise web.HTTPServiceUnavailable(text=f"too many event streams (max {self.max_clients})")
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(request)
        client = _Client(self.queue_size)
        task = asyncio.current_task()
        assert task is not None
        self._clients[client] = task
        log.info(kv("sse_client_connected", remote=request.remote, clients=len(self._clients)))
        try:
            await resp.write(frame("hello", {"clients": len(self._clients)}))
            while True:
                try:
                    async with asyncio.timeout(self.heartbeat_s):
                        kind, payload = await client.queue.get()
                except TimeoutError:
                    await resp.write(b": ping\n\n")
                    continue
                if payload is _END:
                    break
                client.pending.discard(kind)
                await resp.write(payload)
        except (ConnectionResetError, ConnectionError) as exc:
            log.info(kv("sse_client_gone", remote=request.remote, error=exc))
        finally:
            self._clients.pop(client, None)
        return resp

    async def aclose(self, timeout_s: float = 2.0) -> None:
        """End every stream; cancel and await the handlers that do not end within ``timeout_s``."""
        self._closed = True
        for client in self._clients:
            while not client.queue.empty():
                client.queue.get_nowait()
            client.queue.put_nowait(("end", _END))
        tasks = list(self._clients.values())
        if not tasks:
            return
        _done, late = await asyncio.wait(tasks, timeout=timeout_s)
        if late:
            await cancel_and_wait(*late)

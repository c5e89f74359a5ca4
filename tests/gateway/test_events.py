"""``GET /api/events`` through the real aiohttp server: events reach every client in order, a
client that stops reading loses its backlog (bounded) and gets a ``resync`` while the others
miss nothing, ``ingest`` events are coalesced, a client that leaves is forgotten, and closing
the server ends the open streams."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from gateway.api._events import EventHub
from gateway.api.server import ApiServer
from tests.agent.sim.support import until
from tests.gateway.ingest.test_api_token import _View


async def _events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(kind, data) of each SSE frame the response carries (comments skipped)."""
    kind, data = "", ""
    while line := await resp.content.readline():
        text = line.decode().rstrip("\n")
        if text.startswith("event: "):
            kind = text[7:]
        elif text.startswith("data: "):
            data = text[6:]
        elif text == "" and data:
            yield kind, json.loads(data)
            kind, data = "", ""


async def _clients(hub: EventHub, n: int) -> None:
    await until(lambda: hub.clients >= n)


async def test_events_reach_every_client_in_order() -> None:
    hub = EventHub()
    async with ApiServer(_View(), "127.0.0.1", 0, events=hub) as api, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{api.port}/api/events"
        async with http.get(url) as a, http.get(url) as b:
            assert a.headers["Content-Type"] == "text/event-stream"
            streams = [_events(a), _events(b)]
            for s in streams:
                assert (await anext(s))[0] == "hello"
            for i in range(50):
                hub.publish("alert", {"n": i})
            for s in streams:
                got = [await anext(s) for _ in range(50)]
                assert got == [("alert", {"n": i}) for i in range(50)]


async def test_a_client_that_stops_reading_is_bounded_and_resynced_others_miss_nothing() -> None:
    hub = EventHub(queue_size=8)
    big = "x" * 32_000
    async with ApiServer(_View(), "127.0.0.1", 0, events=hub) as api, aiohttp.ClientSession() as http:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_connect(slow, ("127.0.0.1", api.port))
            await loop.sock_sendall(slow, b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
            async with http.get(f"http://127.0.0.1:{api.port}/api/events") as fast:
                stream = _events(fast)
                assert (await anext(stream))[0] == "hello"
                await _clients(hub, 2)
                received: list[int] = []
                sent = 0
                while hub.overflows == 0 and sent < 3000:  # the slow socket's buffers fill up
                    hub.publish("alert", {"n": sent, "pad": big})
                    sent += 1
                    kind, data = await anext(stream)  # the fast client keeps up
                    assert kind == "alert"
                    received.append(data["n"])
                assert hub.overflows >= 1, "the slow client never overflowed"
                assert received == list(range(sent)), "the fast client lost events"
            # the slow client, reading at last, finds the resync where its backlog was dropped
            seen = b""
            async with asyncio.timeout(10):
                while b"event: resync" not in seen:
                    chunk = await loop.sock_recv(slow, 1 << 20)
                    assert chunk, "stream ended before the resync"
                    seen = seen[-100:] + chunk
        finally:
            slow.close()
        async with asyncio.timeout(10):
            while hub.clients:
                hub.publish("alert", {"n": -1})  # a write to the closed socket ends its stream
                await asyncio.sleep(0.05)


async def test_ingest_events_are_coalesced_until_taken() -> None:
    hub = EventHub()
    async with (
        ApiServer(_View(), "127.0.0.1", 0, events=hub) as api,
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{api.port}/api/events") as resp,
    ):
        stream = _events(resp)
        assert (await anext(stream))[0] == "hello"
        for i in range(100):  # no await in between: the handler has not taken any yet
            hub.publish("ingest", {"messages": i})
        hub.publish("alert", {"n": 1})
        assert await anext(stream) == ("ingest", {"messages": 0})
        assert await anext(stream) == ("alert", {"n": 1})
        hub.publish("ingest", {"messages": 7})  # taken: the next one goes out again
        assert await anext(stream) == ("ingest", {"messages": 7})


async def test_closing_the_server_ends_open_streams() -> None:
    hub = EventHub(heartbeat_s=60)
    async with aiohttp.ClientSession() as http:
        api = ApiServer(_View(), "127.0.0.1", 0, events=hub)
        async with api:
            resp = await http.get(f"http://127.0.0.1:{api.port}/api/events")
            stream = _events(resp)
            assert (await anext(stream))[0] == "hello"
            await _clients(hub, 1)
        assert hub.clients == 0
        async with asyncio.timeout(20):
            rest = [e async for e in stream]
        assert rest == []
        resp.release()
        hub.publish("alert", {"after": "close"})  # a closed hub ignores late events
        assert hub.published == 0

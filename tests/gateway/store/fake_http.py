"""A tiny scripted HTTP server for status codes real stores will not produce on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from chargewatch.tasks import cancel_and_wait


@dataclass
class Script:
    """Answers in order (``0`` = never answer, to force a timeout); then ``204`` forever."""

    answers: list[int]
    requests: list[bytes] = field(default_factory=list)


async def _serve(script: Script, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for raw in head.split(b"\r\n"):
                if raw.lower().startswith(b"content-length:"):
                    length = int(raw.split(b":")[1])
            body = await reader.readexactly(length)
            script.requests.append(body)
            status = script.answers.pop(0) if script.answers else 204
            if status == 0:
                await asyncio.sleep(3600)
            payload = b"" if status == 204 else b'{"error":"scripted"}'
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def scripted_server(script: Script) -> AsyncIterator[str]:
    """``http://127.0.0.1:PORT`` of a server answering per ``script``."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await _serve(script, reader, writer)
        finally:
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await cancel_and_wait(*handlers)  # a handler left "never answering" would outlive the test
        await server.wait_closed()

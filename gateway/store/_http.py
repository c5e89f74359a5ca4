"""A small keep-alive HTTP/1.1 client on asyncio streams, for the InfluxDB v1 API.

Up to ``connections`` sockets are kept open and reused; every request runs under
``asyncio.timeout``; a socket that failed or timed out is closed, never reused. Bodies come
back by ``Content-Length``, ``chunked`` or until close.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.store.errors import StoreConfigError, StoreUnavailableError

_MAX_HEADER_LINES = 100


@dataclass(frozen=True, slots=True)
class Response:
    """Status, lower-cased headers and the whole body."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


class HttpPool:
    """Keep-alive connections to one ``http(s)://host:port`` origin."""

    def __init__(self, url: str, *, connections: int = 2, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise StoreConfigError(url, "the store URL must be http(s)://host:port", 0)
        self._tls = parts.scheme == "https"
        self.origin = url.rstrip("/")
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        self._path = parts.path.rstrip("/")
        self._timeout = timeout
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(connections)

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        """One request with a deadline; :class:`StoreUnavailableError` on timeout or connection errors."""
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            reused = conn is not None
            try:
                async with asyncio.timeout(self._timeout):
                    if conn is None:
                        conn = await self._open()
                    try:
                        resp = await self._exchange(conn, method, target, body, headers)
                    except (OSError, asyncio.IncompleteReadError, _ClosedError):
                        if not reused:
                            raise
                        await conn.close()  # a stale keep-alive socket: one fresh attempt
                        conn = await self._open()
                        resp = await self._exchange(conn, method, target, body, headers)
            except TimeoutError as exc:
                if conn is not None:
                    await conn.close()
                raise StoreUnavailableError(self.origin, f"{method} {target[:80]} timed out") from exc
            except (OSError, asyncio.IncompleteReadError, _ClosedError, ValueError) as exc:
                if conn is not None:
                    await conn.close()
                raise StoreUnavailableError(self.origin, f"{method} {target[:80]}: {exc!r}") from exc
            except BaseException:
                if conn is not None:
                    conn.writer.close()  # cancelled mid-exchange: the socket state is unknown
                raise
            if resp.headers.get("connection", "").lower() == "close":
                await conn.close()
            else:
                self._idle.append(conn)
            return resp

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()

    async def _open(self) -> _Conn:
        reader, writer = await asyncio.open_connection(self._host, self._port, ssl=self._tls or None)
        return _Conn(reader, writer)

    async def _exchange(
        self, conn: _Conn, method: str, target: str, body: bytes, headers: dict[str, str] | None
    ) -> Response:
        head = f"{method} {self._path}{target} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
        head += f"Content-Length: {len(body)}\r\n"
        for key, value in (headers or {}).items():
            head += f"{key}: {value}\r\n"
        conn.writer.write(head.encode("latin-1") + b"\r\n" + body)
        await conn.writer.drain()
        status_line = await conn.reader.readline()
        if not status_line:
            raise _ClosedError
        status = int(status_line.split(b" ", 2)[1])
        resp_headers: dict[str, str] = {}
        for _ in range(_MAX_HEADER_LINES):
            raw = await conn.reader.readline()
            if raw in {b"\r\n", b"\n", b""}:
                break
            key, _sep, value = raw.decode("latin-1").partition(":")
            resp_headers[key.strip().lower()] = value.strip()
        return Response(status, resp_headers, await self._body(conn, method, status, resp_headers))

    @staticmethod
    async def _body(conn: _Conn, method: str, status: int, headers: dict[str, str]) -> bytes:
        if method == "HEAD" or status in {204, 304} or 100 <= status < 200:
            return b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int((await conn.reader.readline()).split(b";")[0].strip(), 16)
                if size == 0:
                    await conn.reader.readline()
                    return b"".join(chunks)
                chunks.append(await conn.reader.readexactly(size))
                await conn.reader.readline()
        if "content-length" in headers:
            return await conn.reader.readexactly(int(headers["content-length"]))
        headers["connection"] = "close"
        return await conn.reader.read()


class _ClosedError(Exception):
    """The server closed a kept-alive socket before answering."""

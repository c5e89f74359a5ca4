"""The stores' HTTP client: one aiohttp session per store, owned by the store's async context.

:class:`HttpPool` keeps up to ``connections`` keep-alive sockets to one ``http(s)://host:port``
origin (aiohttp's connector); every request runs under ``asyncio.timeout``; a timeout or a
connection error is a :class:`StoreUnavailableError` naming the origin, so the stores' retry
policy handles it. A request on a kept-alive socket the server had already closed is tried once
more on a fresh one. The session opens with the first request and closes in :meth:`aclose`
(the store's ``__aexit__``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from gateway.store.errors import StoreConfigError, StoreUnavailableError


@dataclass(frozen=True, slots=True)
class Response:
    """Status, lower-cased headers and the whole body."""

    status: int
    headers: dict[str, str]
    body: bytes


class HttpPool:
    """Keep-alive connections to one ``http(s)://host:port`` origin (an aiohttp session)."""

    def __init__(self, url: str, *, connections: int = 2, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise StoreConfigError(url, "the store URL must be http(s)://host:port", 0)
        self.origin = url.rstrip("/")
        self._connections = connections
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                timeout=aiohttp.ClientTimeout(total=None),  # the deadline is asyncio.timeout below
                auto_decompress=True,
            )
        return self._session

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        """One request with a deadline; :class:`StoreUnavailableError` on timeout or connection errors."""
        session = self._open()
        url = URL(self.origin + target, encoded=True)
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    return await self._exchange(session, method, url, body, headers)
                except aiohttp.ServerDisconnectedError:  # a stale keep-alive socket: one fresh attempt
                    return await self._exchange(session, method, url, body, headers)
        except TimeoutError as exc:
            raise StoreUnavailableError(self.origin, f"{method} {target[:80]} timed out") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise StoreUnavailableError(self.origin, f"{method} {target[:80]}: {exc!r}") from exc

    @staticmethod
    async def _exchange(
        session: aiohttp.ClientSession, method: str, url: URL, body: bytes, headers: dict[str, str] | None
    ) -> Response:
        async with session.request(method, url, data=body or None, headers=headers) as resp:
            data = await resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, data)

    async def aclose(self) -> None:
        """Close the session and its connections."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

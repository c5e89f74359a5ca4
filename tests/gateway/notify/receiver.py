"""A local HTTP receiver standing in for WeCom, DingTalk, a webhook or Alertmanager's webhook
target: records every request, answers with scripted statuses/bodies."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class Receiver:
    """``async with Receiver() as r``: ``r.url(path)``; ``r.script`` = [(status, body), ...] answered
    in order (then 200 ``{"errcode":0,"errmsg":"ok"}``)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: list[tuple[int, dict[str, Any]]] = []
        self._arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append(
            Request(request.path, dict(request.query), dict(request.headers), json.loads(raw or b"null"))
        )
        self._arrived.set()
        status, body = self.script.pop(0) if self.script else (200, {"errcode": 0, "errmsg": "ok"})
        return web.json_response(body, status=status)

    async def wait(self, count: int, within: float = 20.0) -> list[Request]:
        """Until ``count`` requests arrived (TimeoutError after ``within`` s)."""
        async with asyncio.timeout(within):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.requests

"""The demo's stand-in for a WeCom/DingTalk group: a local webhook receiver that prints each
notification the gateway sends (``notify.webhook`` in the demo's gateway config)."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any, Self

from aiohttp import web


class NotificationPrinter:
    """``async with NotificationPrinter() as sink``: POSTs to ``sink.url`` are printed and counted."""

    def __init__(self) -> None:
        self.received = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/notify", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = json.loads(await request.read())
        self.received += 1
        lines = [f"ChargeWatch demo: 通知 / notification → {body.get('title', '')}"]
        lines += [f"    {a.get('summary', '')}  {a.get('url', '')}" for a in body.get("alerts", [])]
        print("\n".join(lines), flush=True)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

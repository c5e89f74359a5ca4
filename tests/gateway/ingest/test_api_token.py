"""An operator's token: acknowledging needs it when users are configured; on loopback reads stay
open; without users only a same-origin request with the anti-CSRF header acts (config errors:
tests/gateway/test_users_config.py)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any
from zoneinfo import ZoneInfo

from gateway.api.auth import Authenticator
from gateway.api.server import ApiServer
from gateway.users import ApiUser


class _View:
    """A gateway view with one alert (a fake at the API's seam; the server itself is real)."""

    def __init__(self) -> None:
        self.acked: list[tuple[str, str]] = []

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}

    def devices(self) -> list[dict[str, Any]]:
        return []

    def alerts(self, open_only: bool) -> list[dict[str, Any]]:
        return [{"id": "a1", "acked_by": self.acked[-1][1] if self.acked else None}]

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        if alert_id != "a1":
            raise KeyError(alert_id)
        self.acked.append((alert_id, user))
        return {"id": alert_id, "acked_by": user}

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        return []

    def metrics_text(self) -> str:
        return ""

    async def series(self, *args: Any, **kwargs: Any) -> Any:
        return []

    def timezone(self) -> ZoneInfo:
        return ZoneInfo("Asia/Shanghai")

    async def charging_sessions(self, *args: Any, **kwargs: Any) -> Any:
        return []

    async def send_command(self, *args: Any, **kwargs: Any) -> Any:
        return {"id": "cmd-1"}

    async def commands(self, *args: Any, **kwargs: Any) -> Any:
        return []


def _call(
    port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    body = b'{"user": "ops"}' if method == "POST" else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_acknowledging_needs_the_token_reads_do_not() -> None:
    view = _View()
    token = "s3cret-0123456789abcdef"  # noqa: S105 -- a throwaway token for this test
    auth = Authenticator([ApiUser("ops", "operator", token)])
    async with ApiServer(view, "127.0.0.1", 0, auth=auth) as api:
        port = api.port
        assert (await asyncio.to_thread(_call, port, "/api/alerts"))[0] == 200
        status, body = await asyncio.to_thread(_call, port, "/api/alerts/a1/ack", "POST")
        assert status == 401
        assert "Bearer" in body["error"]
        wrong = {"Authorization": "Bearer nope"}
        assert (await asyncio.to_thread(_call, port, "/api/alerts/a1/ack", "POST", wrong))[0] == 401
        assert view.acked == []
        right = {"Authorization": f"Bearer {token}"}
        status, body = await asyncio.to_thread(_call, port, "/api/alerts/a1/ack", "POST", right)
        assert (status, body["acked_by"]) == (200, "ops")
    assert view.acked == [("a1", "ops")]


async def test_without_a_token_only_a_same_origin_request_with_the_csrf_header_acknowledges() -> None:
    view = _View()
    async with ApiServer(view, "127.0.0.1", 0) as api:
        port = api.port
        path = "/api/alerts/a1/ack"
        # what a cross-site HTML form can send: no custom header, a foreign Origin
        form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}
        status, body = await asyncio.to_thread(_call, port, path, "POST", form)
        assert (status, "X-ChargeWatch-CSRF" in body["error"]) == (403, True)
        assert (await asyncio.to_thread(_call, port, path, "POST"))[0] == 403  # no header at all
        foreign = {"X-ChargeWatch-CSRF": "1", "Origin": "http://evil.example"}
        assert (await asyncio.to_thread(_call, port, path, "POST", foreign))[0] == 403
        assert (await asyncio.to_thread(_call, port, "/api/anything", "DELETE"))[0] == 403  # every route
        assert view.acked == []
        same = {"X-ChargeWatch-CSRF": "1", "Origin": f"http://127.0.0.1:{port}"}
        assert (await asyncio.to_thread(_call, port, path, "POST", same))[0] == 200
        assert (await asyncio.to_thread(_call, port, path, "POST", {"X-ChargeWatch-CSRF": "1"}))[0] == 200
    assert view.acked == [("a1", "ops"), ("a1", "ops")]


async def test_the_dashboard_sends_the_csrf_header() -> None:
    async with ApiServer(_View(), "127.0.0.1", 0) as api:
        page = await asyncio.to_thread(_page, api.port, "/")
        client = await asyncio.to_thread(_page, api.port, "/static/api.js")
    assert '<script src="/static/api.js">' in page
    assert 'headers["X-ChargeWatch-CSRF"] = "1";' in client


def _page(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return str(resp.read().decode())

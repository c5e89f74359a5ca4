"""The API guard (gateway.api.auth) on a real aiohttp server, with a view fake at the API's seam:
roles, Basic and Bearer, whoami, the audit name, failed-login limiting and the login cache."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from chargewatch.clock import ManualClock
from gateway.api.auth import Authenticator, FailureLimiter
from gateway.api.server import ApiServer
from gateway.passwords import Cost, hash_password, parse_hash, verify_password
from gateway.users import ApiUser
from tests.gateway.ingest.test_api_token import _View

VIEWER_TOKEN = "viewer-token-0123456789"  # noqa: S105 -- throwaway tokens
OPERATOR_TOKEN = "operator-token-0123456789"  # noqa: S105
PASSWORD = "correct horse"  # noqa: S105
USERS = [
    ApiUser("wall", "viewer", VIEWER_TOKEN),
    ApiUser("zhang", "operator", OPERATOR_TOKEN, parse_hash(hash_password(PASSWORD, Cost(14, 8, 1)))),
]
CSRF = {"X-ChargeWatch-CSRF": "1"}


class _Recording(_View):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def send_command(self, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(args[4])
        return {"id": f"cmd-{len(self.sent)}"}


def _basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _req(
    port: int, path: str, headers: dict[str, str] | None = None, body: dict[str, Any] | None = None
) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    hdrs = (headers or {}) | ({"Content-Type": "application/json"} if body is not None else {})
    method = "GET" if body is None else "POST"
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            raw, status, got = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, dict(exc.headers)
    return status, json.loads(raw) if got.get("Content-Type", "").startswith("application/json") else raw, got


async def req(
    port: int, path: str, headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, Any]:
    status, data, _ = await asyncio.to_thread(_req, port, path, headers, body)
    return status, data


async def test_roles_decide_who_reads_and_who_acts_when_reads_need_a_login() -> None:
    view = _Recording()
    async with ApiServer(view, "127.0.0.1", 0, auth=Authenticator(USERS, read_login=True)) as api:
        p = api.port
        stop = {"device": "p1", "point": "relay_on", "port": 0, "value": 0}
        # anonymous: the page shell, health status and whoami only
        assert (await req(p, "/api/alerts"))[0] == 401
        assert (await req(p, "/api/commands"))[0] == 401
        assert (await req(p, "/metrics"))[0] == 401
        assert (await req(p, "/"))[0] == 200
        assert await req(p, "/health") == (200, {"status": "ok"})
        anonymous = {"user": None, "role": "anonymous", "can_ack": False, "can_command": False}
        assert await req(p, "/api/whoami") == (200, anonymous)
        assert (await req(p, "/api/alerts/a1/ack", CSRF, {}))[0] == 401
        # the viewer reads everything, acts on nothing
        wall = _bearer(VIEWER_TOKEN)
        assert await req(p, "/api/whoami", wall) == (
            200,
            {"user": "wall", "role": "viewer", "can_ack": False, "can_command": False},
        )
        assert (await req(p, "/api/alerts", wall))[0] == 200
        assert (await req(p, "/health", wall))[1] == {"status": "ok"}  # the fake's whole health
        status, body = await req(p, "/api/alerts/a1/ack", wall, {})
        assert (status, body["error"]) == (403, "wall is a viewer; this needs an operator")
        assert (await req(p, "/api/commands", wall, stop))[0] == 403
        # the operator, by password (Basic: the anti-CSRF header too) and by token
        zhang = _basic("zhang", PASSWORD)
        assert await req(p, "/api/whoami", zhang) == (
            200,
            {"user": "zhang", "role": "operator", "can_ack": True, "can_command": True},
        )
        assert (await req(p, "/api/alerts/a1/ack", zhang, {}))[0] == 403  # no X-ChargeWatch-CSRF
        assert await req(p, "/api/alerts/a1/ack", zhang | CSRF, {}) == (
            200,
            {"id": "a1", "acked_by": "zhang"},
        )
        status, body = await req(p, "/api/alerts/a1/ack", zhang | CSRF, {"user": "li"})
        assert (status, body["error"]) == (403, "you are signed in as 'zhang'; the request names 'li'")
        assert await req(p, "/api/commands", _bearer(OPERATOR_TOKEN), stop) == (202, {"id": "cmd-1"})
        named = stop | {"operator": "zhang"}
        assert await req(p, "/api/commands", _bearer(OPERATOR_TOKEN), named) == (202, {"id": "cmd-2"})
        assert (await req(p, "/api/commands", _bearer(OPERATOR_TOKEN), stop | {"operator": "li"}))[0] == 403
    assert view.acked == [("a1", "zhang")]
    assert view.sent == ["zhang", "zhang"]


async def test_on_loopback_with_users_reads_are_open_and_acting_needs_an_operator() -> None:
    view = _Recording()
    async with ApiServer(view, "127.0.0.1", 0, auth=Authenticator(USERS)) as api:
        p = api.port
        assert (await req(p, "/api/alerts"))[0] == 200
        assert (await req(p, "/health"))[1] == {"status": "ok"}
        assert (await req(p, "/api/alerts/a1/ack", CSRF, {"user": "li"}))[0] == 401
        assert (await req(p, "/api/alerts/a1/ack", _bearer(OPERATOR_TOKEN), {}))[0] == 200
    assert view.acked == [("a1", "zhang")]


async def test_without_users_anyone_on_loopback_acts_under_the_name_given() -> None:
    view = _Recording()
    async with ApiServer(view, "127.0.0.1", 0) as api:
        p = api.port
        open_ = {"user": None, "role": "anonymous", "can_ack": True, "can_command": True}
        assert await req(p, "/api/whoami") == (200, open_)
        assert (await req(p, "/api/alerts/a1/ack", CSRF, {"user": "li"}))[0] == 200
        assert (await req(p, "/api/alerts/a1/ack", CSRF, {}))[0] == 200
        assert (await req(p, "/api/whoami", _bearer("anything-at-all-here")))[0] == 401
    assert view.acked == [("a1", "li"), ("a1", "anonymous")]


async def test_failed_logins_are_logged_and_limited_per_client(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    auth = Authenticator(USERS, read_login=True, failures_per_min=3, clock=clock)
    caplog.set_level(logging.WARNING, logger="gateway.api.auth")
    async with ApiServer(_View(), "127.0.0.1", 0, auth=auth) as api:
        p = api.port
        wrong = _basic("zhang", "not the password")
        for _ in range(3):
            status, body = await req(p, "/api/alerts", wrong)
            assert (status, body["error"].startswith("unknown credentials")) == (401, True)
        status, body, headers = await asyncio.to_thread(_req, p, "/api/alerts", _basic("zhang", PASSWORD))
        assert (status, headers["Retry-After"]) == (429, "21")  # 3 a minute: one try back in 20 s
        assert "too many failed logins from 127.0.0.1" in body["error"]
        clock.advance(20.0)
        assert (await req(p, "/api/alerts", _basic("zhang", PASSWORD)))[0] == 200
        assert (await req(p, "/api/alerts", _basic("nobody", PASSWORD)))[0] == 401
        clock.advance(20.0)
        assert (await req(p, "/api/alerts", _basic("a\rb", PASSWORD)))[0] == 401
        assert (await req(p, "/api/alerts", {"Authorization": "Digest x"}))[0] == 429
    failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("http_auth_failed")]
    assert failed == [
        *["http_auth_failed remote=127.0.0.1 scheme=basic user=zhang reason=bad_password path=/api/alerts"]
        * 3,
        "http_auth_failed remote=127.0.0.1 scheme=basic user=nobody reason=unknown_user path=/api/alerts",
        "http_auth_failed remote=127.0.0.1 scheme=basic user='a\\rb' reason=unknown_user path=/api/alerts",
    ]
    locked = [r.getMessage() for r in caplog.records if r.getMessage().startswith("http_auth_locked")]
    assert len(locked) == 3
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


async def test_a_password_is_checked_with_scrypt_once_then_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks: list[str] = []

    def counting(password: str, stored: Any) -> bool:
        checks.append(password)
        return verify_password(password, stored)

    monkeypatch.setattr("gateway.api.auth.verify_password", counting)
    async with ApiServer(_View(), "127.0.0.1", 0, auth=Authenticator(USERS, read_login=True)) as api:
        for _ in range(3):
            assert (await req(api.port, "/api/alerts", _basic("zhang", PASSWORD)))[0] == 200
        assert (await req(api.port, "/api/alerts", _basic("zhang", "wrong one")))[0] == 401
        assert (await req(api.port, "/api/alerts", _basic("wall", PASSWORD)))[0] == 401  # no password set
    assert checks == [PASSWORD, "wrong one", PASSWORD]


def test_the_failure_limiter_refills_and_stays_bounded() -> None:
    clock = ManualClock()
    limiter = FailureLimiter(per_min=2, clock=clock, max_clients=2)
    assert [limiter.fail("a"), limiter.fail("a")] == [False, True]
    assert limiter.wait_s("a") == pytest.approx(30.0)
    assert limiter.wait_s("b") == 0.0
    clock.advance(30.0)
    assert limiter.wait_s("a") == 0.0
    for client in ("b", "c", "d"):
        limiter.fail(client)
    assert limiter.wait_s("a") == 0.0  # forgotten: the oldest of more than max_clients
    assert len(limiter) == 2


async def test_public_means_the_route_the_router_resolved_not_the_raw_path(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("console.log('shell')")
    auth = Authenticator(USERS, read_login=True)
    app = web.Application(middlewares=[auth.middleware()])
    app.add_routes(auth.routes())
    app.add_routes([web.static("/static", tmp_path), web.get("/api/alerts", _ok)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        p = int(runner.addresses[0][1])
        assert await asyncio.to_thread(_raw, p, "/static/app.js") == (200, b"console.log('shell')")
        for sneaky in ("/static/../api/alerts", "/static/%2e%2e/api/alerts", "/health/../api/alerts"):
            assert (await asyncio.to_thread(_raw, p, sneaky))[0] == 401, sneaky
        assert (await asyncio.to_thread(_raw, p, "/api/nothing"))[0] == 401  # no route: still no read
        assert (await req(p, "/api/nothing", _bearer(VIEWER_TOKEN)))[0] == 404
        assert (await req(p, "/api/alerts", _bearer(VIEWER_TOKEN)))[0] == 200
    finally:
        await runner.cleanup()


async def _ok(_r: web.Request) -> web.Response:
    return web.json_response([])


def _raw(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (urllib would normalise the dots)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()

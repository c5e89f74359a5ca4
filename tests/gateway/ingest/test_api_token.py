"""The API token: acknowledging needs it when configured; reads stay open; no token, no exposure."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chargewatch.errors import ConfigError
from gateway.api.server import ApiServer
from gateway.config import api_token, load_config


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
    token = "s3cret"  # noqa: S105 -- a throwaway token for this test
    async with ApiServer(view, "127.0.0.1", 0, token=token) as api:
        port = api.port
        assert (await asyncio.to_thread(_call, port, "/api/alerts"))[0] == 200
        status, body = await asyncio.to_thread(_call, port, "/api/alerts/a1/ack", "POST")
        assert status == 401
        assert "token" in body["error"]
        wrong = {"Authorization": "Bearer nope"}
        assert (await asyncio.to_thread(_call, port, "/api/alerts/a1/ack", "POST", wrong))[0] == 401
        assert view.acked == []
        right = {"Authorization": "Bearer s3cret"}
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


def _config(tmp_path: Path, http: str) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"mqtt:\n  client_id: cw-gateway-1\nstore:\n  kind: sqlite\n  path: {tmp_path}/ts.db\nhttp:\n{http}"
    )
    return path


def test_binding_beyond_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"http\.bind '0\.0\.0\.0' exposes the API .* Fix: set http\.token_env"
    ):
        load_config(_config(tmp_path, "  bind: 0.0.0.0\n"))


def test_the_token_comes_from_the_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(tmp_path, "  bind: 0.0.0.0\n  token_env: CW_API_TOKEN\n")
    monkeypatch.delenv("CW_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"token_env names \$CW_API_TOKEN, which is not set"):
        load_config(path)
    monkeypatch.setenv("CW_API_TOKEN", "abc")
    cfg = load_config(path)
    assert api_token(cfg.http) == "abc"
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    cfg = load_config(_config(tmp_path, f"  token_file: {secret}\n"))
    assert api_token(cfg.http) == "from-file"


def test_an_empty_token_is_refused_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_API_TOKEN", "  ")
    with pytest.raises(ConfigError, match=r"gw\.yaml: http: the API token from \$CW_API_TOKEN is empty"):
        load_config(_config(tmp_path, "  bind: 0.0.0.0\n  token_env: CW_API_TOKEN\n"))
    empty = tmp_path / "token"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match=r"API token from file .*token' is empty.*Fix: put a long random"):
        load_config(_config(tmp_path, f"  token_file: {empty}\n"))

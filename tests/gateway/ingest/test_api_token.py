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

    async def sessions(self, *args: Any, **kwargs: Any) -> Any:
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


async def test_without_a_token_acknowledging_is_open_on_loopback() -> None:
    view = _View()
    async with ApiServer(view, "127.0.0.1", 0) as api:
        status, _ = await asyncio.to_thread(_call, api.port, "/api/alerts/a1/ack", "POST")
    assert status == 200


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
    cfg = load_config(_config(tmp_path, "  bind: 0.0.0.0\n  token_env: CW_API_TOKEN\n"))
    with pytest.raises(ConfigError, match=r"token_env names \$CW_API_TOKEN, which is not set"):
        api_token(cfg.http)
    monkeypatch.setenv("CW_API_TOKEN", "abc")
    assert api_token(cfg.http) == "abc"
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    cfg = load_config(_config(tmp_path, f"  token_file: {secret}\n"))
    assert api_token(cfg.http) == "from-file"

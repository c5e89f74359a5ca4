"""Command audit points and the POST/GET /api/commands contract (real server, a view fake at its seam)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chargewatch.errors import MessageError
from chargewatch.messages import CommandReply, encode
from gateway.api.server import ApiServer
from gateway.commands.audit import decode_reply, reply_line, result_of


def test_reply_points_name_result_operator_and_reason() -> None:
    refused = CommandReply(
        id="c1", device="p1", ok=False, reason="replayed: nonce x", ts=1000.0, operator="li", point="relay_on"
    )
    failed = CommandReply(id="c2", device="p1", ok=False, reason="failed: relay did not confirm", ts=1000.0)
    assert (result_of(refused), result_of(failed)) == ("refused", "failed")
    assert reply_line(refused, "s", 5.0) == (
        'command,device=p1,id=c1,result=refused,site=s point="relay_on",operator="li",'
        'reason="replayed: nonce x",verified=false 1000000'
    )
    assert reply_line(failed, "s", 5.0).endswith(" 1000000")


def test_a_reply_must_match_its_topic() -> None:
    reply = encode(CommandReply(id="c1", device="p1", ok=True))
    assert decode_reply("cw/v1/dev/p1/cmd/reply", reply).id == "c1"
    with pytest.raises(MessageError, match="device_mismatch"):
        decode_reply("cw/v1/dev/p2/cmd/reply", reply)
    with pytest.raises(MessageError):
        decode_reply("cw/v1/dev/p1/cmd/reply", b"[[[")


class _CommandView:
    """The API's view with only the command methods doing anything."""

    def __init__(self, key: bool) -> None:
        self.key = key
        self.sent: list[tuple[str, str, float, int | None, str]] = []

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}

    def devices(self) -> list[dict[str, Any]]:
        return []

    def alerts(self, open_only: bool) -> list[dict[str, Any]]:
        return []

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        raise KeyError(alert_id)

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

    async def send_command(
        self, device: str, point: str, value: float, port: int | None, operator: str
    ) -> Any:
        if not self.key:
            raise KeyError("this gateway has no commands.signing_key_file")
        self.sent.append((device, point, value, port, operator))
        return {"id": "cmd-1"}

    async def commands(self, where: Mapping[str, str], start_ms: int, end_ms: int) -> Any:
        return [{"where": dict(where), "span_s": (end_ms - start_ms) // 1000}]


def _post(
    port: int, body: bytes, content_type: str = "application/json", csrf: bool = True
) -> tuple[int, Any]:
    headers = {"Content-Type": content_type} | ({"X-ChargeWatch-CSRF": "1"} if csrf else {})
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/commands", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _get(port: int, query: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/commands{query}", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_post_and_get_commands_validate_their_input() -> None:
    good = b'{"device":"p1","point":"relay_on","port":1,"value":0,"operator":"li"}'
    view = _CommandView(key=True)
    async with ApiServer(view, "127.0.0.1", 0) as api:
        assert (await asyncio.to_thread(_post, api.port, good, "application/json", False))[0] == 403
        assert await asyncio.to_thread(_post, api.port, good) == (202, {"id": "cmd-1"})
        assert (await asyncio.to_thread(_post, api.port, good, "text/plain"))[0] == 415
        assert (await asyncio.to_thread(_post, api.port, good.replace(b'"li"', b'"a b"')))[0] == 400
        assert (await asyncio.to_thread(_post, api.port, b'{"device":"p1"}'))[0] == 400
        assert (await asyncio.to_thread(_get, api.port, "?since=nan"))[0] == 400
        assert (await asyncio.to_thread(_get, api.port, "?device=a/b"))[0] == 400
        status, rows = await asyncio.to_thread(_get, api.port, "?device=p1&since=60")
        assert status == 200
        assert rows == [{"where": {"device": "p1"}, "span_s": 60 + 7 * 86400}]
    assert view.sent == [("p1", "relay_on", 0.0, 1, "li")]
    async with ApiServer(_CommandView(key=False), "127.0.0.1", 0) as api:
        status, body = await asyncio.to_thread(_post, api.port, good)
        assert (status, body["error"]) == (503, "this gateway has no commands.signing_key_file")

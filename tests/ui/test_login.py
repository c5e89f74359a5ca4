"""Login and roles in the browser, against the real API server (the view behind it is a fake
with one alert): with an API token configured, acknowledging without a login is refused and
opens the login box; after logging in with the token the page sends it on every request, the
event stream included, and the acknowledgement goes through. A viewer (as ``/api/whoami``
reports it) sees no acknowledge or stop buttons. Markup in API values stays text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.api.server import ApiServer
from tests.gateway.ingest.test_api_token import _View
from tests.ui.conftest import assert_not_blank

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token"  # noqa: S105 - a test token for a throwaway server


class _OneAlert(_View):
    message = "port cut by the pile"

    def alerts(self, open_only: bool) -> list[dict[str, Any]]:
        acked = self.acked[-1][1] if self.acked else None
        return [
            {
                "id": "a1", "key": "k", "device": "pile-9", "port": 4, "kind": "port_cut",
                "severity": "critical", "state": "firing", "first_ts": 1.8e9, "ts": 1.8e9,
                "message": self.message, "acked_at": 1.8e9 if acked else None, "acked_by": acked,
            }
        ]  # fmt: skip


async def test_a_token_login_is_sent_everywhere_and_lets_the_operator_acknowledge(
    browser: Any, tmp_path: Path
) -> None:
    view = _OneAlert()
    async with ApiServer(view, "127.0.0.1", 0, token=TOKEN) as api:
        page = await browser.new_page()
        auth: dict[str, str] = {}
        page.on("request", lambda r: auth.update({r.url: r.headers.get("authorization", "")}))
        await page.goto(f"http://127.0.0.1:{api.port}/#/alerts")
        row = await page.wait_for_selector("tr[data-id='a1']")
        assert row is not None
        assert "端口被切断" in await row.inner_text()  # the latched port-cut alert, translated
        await page.click("tr[data-id='a1'] button.ack")
        await page.wait_for_selector("#login:not([hidden])")
        assert "需要登录" in await page.inner_text("#login-msg")
        assert view.acked == []

        await page.fill("#login-token", TOKEN)
        await page.click("#login button[type='submit']")
        await page.wait_for_selector("#login[hidden]", state="attached")
        await page.wait_for_selector("#logout:not([hidden])")
        await page.wait_for_selector("#live[data-live='1']")
        await page.click("tr[data-id='a1'] button.ack")
        await page.wait_for_selector("tr[data-id='a1'] >> text=已由 dashboard 确认")
        assert view.acked == [("a1", "dashboard")]
        events = f"http://127.0.0.1:{api.port}/api/events"
        assert auth[events] == f"Bearer {TOKEN}", "the event stream carries the login"
        assert auth[f"http://127.0.0.1:{api.port}/api/alerts"] == f"Bearer {TOKEN}"
        await page.screenshot(path=tmp_path / "login.png")
        assert_not_blank(tmp_path / "login.png")
        await page.close()


async def test_a_viewer_gets_no_acknowledge_or_stop_buttons(browser: Any, tmp_path: Path) -> None:
    who = {"user": "wang", "role": "viewer", "can_ack": False, "can_command": False}
    view = _OneAlert()
    view.message = '<img id="injected" src="x">'
    async with ApiServer(view, "127.0.0.1", 0) as api:
        page = await browser.new_page()
        # the roles contract (GET /api/whoami) as the roles feature answers it
        await page.route("**/api/whoami", lambda route: route.fulfill(json=who))
        await page.goto(f"http://127.0.0.1:{api.port}/#/alerts")
        await page.wait_for_selector("tr[data-id='a1']")
        assert await page.query_selector("button.ack") is None
        assert await page.query_selector("#injected") is None  # inserted as text, never parsed
        assert view.message in await page.inner_text("tr[data-id='a1']")
        assert "无确认权限" in await page.inner_text("tr[data-id='a1']")
        assert await page.inner_text("#who") == "wang · 只读"
        await page.goto(f"http://127.0.0.1:{api.port}/#/port/pile-9/4")
        await page.wait_for_selector("#port-title")
        assert await page.query_selector("#stop") is None
        await page.screenshot(path=tmp_path / "viewer.png")
        assert_not_blank(tmp_path / "viewer.png")
        await page.close()

"""Login and roles in the browser, against the real API server and its real guard (users with
roles, gateway.api.auth; the view behind them is a fake with one alert): a gateway that needs a
login to read opens the login box; a wrong password is refused; the operator logged in with user
and password (Basic) has it sent on every request, the event stream included, and acknowledges
under their own name. A viewer (token) sees no acknowledge or stop buttons. Markup in API values
stays text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.api.auth import Authenticator
from gateway.api.server import ApiServer
from tests.gateway.ingest.test_api_token import _View
from tests.gateway.test_auth import PASSWORD, USERS, VIEWER_TOKEN
from tests.ui.conftest import assert_not_blank

pytestmark = pytest.mark.integration


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


async def test_an_operator_logs_in_and_acknowledges_under_their_name(browser: Any, tmp_path: Path) -> None:
    view = _OneAlert()
    async with ApiServer(view, "127.0.0.1", 0, auth=Authenticator(USERS, read_login=True)) as api:
        page = await browser.new_page()
        auth: dict[str, str] = {}
        page.on("request", lambda r: auth.update({r.url: r.headers.get("authorization", "")}))
        await page.goto(f"http://127.0.0.1:{api.port}/#/alerts")
        await page.wait_for_selector("#login:not([hidden])")
        assert await page.inner_text("#login-msg") == "查看数据需要先登录"
        assert await page.query_selector("tr[data-id='a1']") is None
        assert await page.inner_text("#who") == "未登录"

        await page.fill("#login-user", "zhang")
        await page.fill("#login-password", "not the password")
        await page.click("#login button[type='submit']")
        await page.wait_for_selector("#login-msg >> text=登录失败：令牌或密码不正确")

        await page.fill("#login-password", PASSWORD)
        await page.click("#login button[type='submit']")
        await page.wait_for_selector("#login[hidden]", state="attached")
        await page.wait_for_selector("#live[data-live='1']")
        assert await page.inner_text("#who") == "zhang · 操作员"
        row = await page.wait_for_selector("tr[data-id='a1']")
        assert row is not None
        assert "端口被切断" in await row.inner_text()  # the latched port-cut alert, translated
        await page.click("tr[data-id='a1'] button.ack")
        await page.wait_for_selector("tr[data-id='a1'] >> text=已由 zhang 确认")
        assert view.acked == [("a1", "zhang")]
        basic = auth[f"http://127.0.0.1:{api.port}/api/alerts"]
        assert basic.startswith("Basic ")
        assert auth[f"http://127.0.0.1:{api.port}/api/events"] == basic, "the event stream carries the login"
        await page.screenshot(path=tmp_path / "login.png")
        assert_not_blank(tmp_path / "login.png")
        await page.close()


async def test_a_viewer_gets_no_acknowledge_or_stop_buttons(browser: Any, tmp_path: Path) -> None:
    view = _OneAlert()
    view.message = '<img id="injected" src="x">'
    async with ApiServer(view, "127.0.0.1", 0, auth=Authenticator(USERS)) as api:
        page = await browser.new_page()
        await page.goto(f"http://127.0.0.1:{api.port}/#/alerts")
        # with users configured, only an operator acts: anonymous readers get no button either
        await page.wait_for_selector("tr[data-id='a1'] >> text=无确认权限")
        await page.click("#login-open")
        await page.fill("#login-token", VIEWER_TOKEN)
        await page.click("#login button[type='submit']")
        await page.wait_for_selector("#who >> text=wall · 只读")
        await page.wait_for_selector("tr[data-id='a1'] >> text=无确认权限")
        assert await page.query_selector("button.ack") is None
        assert await page.query_selector("#injected") is None  # inserted as text, never parsed
        assert view.message in await page.inner_text("tr[data-id='a1']")
        await page.goto(f"http://127.0.0.1:{api.port}/#/port/pile-9/4")
        await page.wait_for_selector("#port-title")
        assert await page.query_selector("#stop") is None
        await page.screenshot(path=tmp_path / "viewer.png")
        assert_not_blank(tmp_path / "viewer.png")
        await page.close()

"""The control room in a real browser (headless Chromium) against a real gateway fed by the
simulator: the injected overheating fault appears without a reload, acknowledging it on the
page changes the API, the alert page shows its evidence (or says there is none), a finished
session appears with its fee, and a remote stop from the page is signed, executed and audited.
Each step saves a screenshot and checks that it is not blank."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from demo import DemoChain
from tests.agent.sim.support import until
from tests.ui.conftest import assert_not_blank, get_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: the demo's injected fault: pile-a1, wire port 2 (printed "3号口") overheats
HOT_DEVICE, HOT_PORT = "pile-a1", 2
HOT_TILE = ".port[data-device='pile-a1'][data-port='2']"


async def _shot(page: Any, path: Path) -> None:
    await page.screenshot(path=path)
    assert_not_blank(path)


def _status(url: str) -> int:
    try:
        with urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except HTTPError as exc:
        return exc.code


async def test_the_control_room_shows_alerts_sessions_and_stops_a_port(
    chain: DemoChain, browser: Any, tmp_path: Path
) -> None:
    base = chain.url.rstrip("/")
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # the grid, in Chinese, loaded once: the overheating port turns hot (or tripped) by push
    await page.goto(chain.url)
    await page.wait_for_selector("#live[data-live='1']")
    body = await page.inner_text("body")
    for text in ("站点总览", "充电桩", "电梯阻车器", "今日拦截", "图例", "充电中"):
        assert text in body, text
    tile = await page.wait_for_selector(
        f"{HOT_TILE}[data-state='hot'], {HOT_TILE}[data-state='tripped']", timeout=60_000
    )
    assert tile is not None
    assert (await tile.inner_text()).startswith("3"), "ports are numbered as printed (from 1)"
    assert sum("/api/events" in u for u in requests) == 1, "one event stream, no reloads"
    await _shot(page, tmp_path / "grid.png")

    # the alert list: the overheating alert with its Chinese name; acknowledge it on the page
    await page.click("#nav-alerts")
    row = await page.wait_for_selector("tr[data-kind='socket_overtemp']", timeout=30_000)
    assert row is not None
    alert_id = await row.get_attribute("data-id")
    assert alert_id is not None
    row_text = await row.inner_text()
    assert all(text in row_text for text in ("插座过温", "3号口", HOT_DEVICE)), row_text
    await page.click(f"tr[data-id='{alert_id}'] button.ack")

    async def acked_by() -> set[str]:
        alerts: list[dict[str, Any]] = await get_json(f"{base}/api/alerts")
        return {a["acked_by"] for a in alerts if a["id"] == alert_id and a["acked_by"]}

    async def acked() -> bool:
        return bool(await acked_by())

    await until(acked, within=30, step=0.2)
    assert await acked_by() == {"dashboard"}
    await page.wait_for_selector(f"tr[data-id='{alert_id}'] >> text=已由 dashboard 确认")
    await _shot(page, tmp_path / "alerts.png")

    # the alert page (the link notifications carry): its evidence chart, or "no evidence yet"
    await page.goto(f"{chain.url}#/alerts/{alert_id}")
    await page.wait_for_selector("#evidence > *")
    status = await asyncio.to_thread(_status, f"{base}/api/alerts/{alert_id}/evidence")
    if status == 200:
        assert await page.wait_for_selector("#evidence canvas") is not None
    else:
        assert status == 404
        assert await page.inner_text("#no-evidence") == "暂无证据"
    await _shot(page, tmp_path / "alert.png")

    # sessions and fees: a finished session with its fee, as the API has it
    await page.click("#nav-sessions")
    first = await page.wait_for_selector("tr.session", timeout=60_000)
    assert first is not None
    now = chain.gw.clock.time()
    sessions: list[dict[str, Any]] = await get_json(
        f"{base}/api/sessions?since={now - 86400}&until={now + 60}"
    )
    fees = {f"{s['fee']['total']:.2f} 元" for s in sessions}
    shown = await page.locator("tr.session td.fee").all_inner_texts()
    assert shown, "no fee shown"
    assert set(shown) <= fees, (shown, fees)
    await _shot(page, tmp_path / "sessions.png")
    async with page.expect_download() as download_info:  # the reconciliation export, with the login
        await page.click("text=导出 CSV（对账）")
    download = await download_info.value
    csv_path = tmp_path / "sessions.csv"
    await download.save_as(csv_path)
    lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("设备 (device),端口 (port)")
    assert len(lines) - 1 >= len(sessions)  # sessions may have ended since the API was read

    # remote stop of pile-b1 port 1 (wire 0): two clicks, then the audit has it sent and done
    await page.goto(f"{chain.url}#/port/pile-b1/0")
    await page.wait_for_selector("#port-title")
    await page.wait_for_selector(".chart canvas")
    await page.click("#stop")
    assert await page.inner_text("#stop") == "确认断电？"
    await page.click("#stop")
    await page.wait_for_selector("#stop-msg.good")
    match = re.search(r"编号 (\S+)）", await page.inner_text("#stop-msg"))
    assert match, await page.inner_text("#stop-msg")
    command_id = match.group(1)

    async def audited() -> set[str]:
        rows: list[dict[str, Any]] = await get_json(f"{base}/api/commands?device=pile-b1")
        return {r["result"] for r in rows if r["id"] == command_id}

    async def executed() -> bool:
        return await audited() >= {"sent", "ok"}

    await until(executed, within=30, step=0.2)
    assert await audited() == {"sent", "ok"}
    await page.wait_for_selector(f"tr.command[data-id='{command_id}']", timeout=30_000)
    await _shot(page, tmp_path / "port.png")
    await page.close()
    assert errors == []

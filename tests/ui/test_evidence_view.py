"""The alert page draws an alert's evidence document (the contract of
``GET /api/alerts/{id}/evidence``): one chart per physical quantity with the alert's time marked,
and download links for the CSV and JSON. The document is served by the browser's request routing
here; the real recorder's documents are checked by the control-room test once it is merged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.api.server import ApiServer
from tests.ui.conftest import assert_not_blank
from tests.ui.test_login import _OneAlert

pytestmark = pytest.mark.integration

T0 = 1.8e9


def _document() -> dict[str, Any]:
    ts = [T0 - 60 + 10 * i for i in range(13)]
    return {
        "alert_id": "a1", "device": "pile-9", "port": 4, "kind": "port_cut", "alert_ts": T0,
        "window": {"start": T0 - 60, "end": T0 + 60, "before_s": 60, "after_s": 60},
        "sealed": True, "sha256": "ab" * 32,
        "series": [
            {"name": "socket_temp", "scope": "port", "port": 4, "unit": "degC",
             "points": [[t, 40 + i * 3] for i, t in enumerate(ts)]},
            {"name": "power", "scope": "port", "port": 4, "unit": "W",
             "points": [[t, 400.0 if t < T0 else 0.0] for t in ts]},
            {"name": "state", "scope": "port", "port": 4, "unit": "", "points": [[t, 1] for t in ts]},
            {"name": "ambient_temp", "scope": "pile", "port": None, "unit": "degC",
             "points": [[t, 30.0] for t in ts]},
        ],
        "events": [{"ts": T0 + 5, "kind": "interlock", "port": 4, "data": {}}],
    }  # fmt: skip


async def test_the_alert_page_charts_the_evidence_with_downloads(browser: Any, tmp_path: Path) -> None:
    async with ApiServer(_OneAlert(), "127.0.0.1", 0) as api:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.route("**/api/alerts/a1/evidence", lambda route: route.fulfill(json=_document()))
        await page.goto(f"http://127.0.0.1:{api.port}/#/alerts/a1")
        await page.wait_for_selector("#evidence canvas")
        titles = await page.locator("#evidence .chart h3").all_inner_texts()
        assert titles == ["告警前后原始数据 (°C)", "告警前后原始数据 (W)"]  # no chart of state codes
        legend = await page.inner_text("#evidence")
        assert "插座温度 (5号口)" in legend  # wire port 4 is printed 5
        assert "环境温度" in legend
        assert "已封存" in legend
        hrefs = await page.eval_on_selector_all("#evidence a", "els => els.map(e => e.getAttribute('href'))")
        assert hrefs == ["/api/alerts/a1/evidence.csv", "/api/alerts/a1/evidence"]
        await page.screenshot(path=tmp_path / "evidence.png")
        assert_not_blank(tmp_path / "evidence.png")
        await page.close()


async def test_evidence_rebuilt_after_a_crash_says_so(browser: Any) -> None:
    doc = {**_document(), "sealed_reason": "rebuilt_from_store", "rebuilt": {"seqs_missing": 2}}
    async with ApiServer(_OneAlert(), "127.0.0.1", 0) as api:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.route("**/api/alerts/a1/evidence", lambda route: route.fulfill(json=doc))
        await page.goto(f"http://127.0.0.1:{api.port}/#/alerts/a1")
        await page.wait_for_selector("#evidence canvas")
        assert "网关崩溃后由时序数据库重建（缺 2 条报文）" in await page.inner_text("#evidence")
        await page.route("**/api/alerts/a1/evidence", lambda route: route.fulfill(json=_document()))
        await page.reload()
        await page.wait_for_selector("#evidence canvas")
        assert "重建" not in await page.inner_text("#evidence"), "only for a rebuilt window"
        await page.close()

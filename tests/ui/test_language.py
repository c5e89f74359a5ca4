"""The control room speaks Chinese by default and English after one click, every string from the
one dictionary (both languages hold the same keys), and the choice survives a reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from demo import DemoChain
from tests.ui.conftest import assert_not_blank

pytestmark = pytest.mark.integration

ZH = ("站点总览", "告警", "充电记录与费用", "充电桩", "图例", "空闲", "本机访问", "实时连接")
EN = (
    "Site overview",
    "Alerts",
    "Sessions and fees",
    "Charging piles",
    "Legend",
    "idle",
    "local access",
    "live",
)


async def _untranslated(page: Any) -> list[str]:
    """Elements whose text is still their dictionary key (a string missing in this language)."""
    texts: list[str] = await page.eval_on_selector_all(
        "[data-i18n]", "els => els.filter(e => e.textContent === e.dataset.i18n).map(e => e.dataset.i18n)"
    )
    return texts


async def test_chinese_by_default_english_on_request(chain: DemoChain, browser: Any, tmp_path: Path) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(chain.url)
    await page.wait_for_selector("#live[data-live='1']")
    await page.wait_for_selector(".pile .port")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    body = await page.inner_text("body")
    assert all(text in body for text in ZH), [t for t in ZH if t not in body]
    assert await _untranslated(page) == []
    missing = await page.evaluate(
        "[Object.keys(I18N.zh).filter(k => !(k in I18N.en)),"
        " Object.keys(I18N.en).filter(k => !(k in I18N.zh))]"
    )
    assert missing == [[], []]
    await page.screenshot(path=tmp_path / "zh.png")
    assert_not_blank(tmp_path / "zh.png")

    await page.click("#lang")
    await page.wait_for_selector("text=Charging piles")
    body = await page.inner_text("body")
    assert all(text in body for text in EN), [t for t in EN if t not in body]
    assert not any(text in body for text in ("站点总览", "充电桩", "图例", "空闲")), body[:500]
    assert await page.get_attribute("html", "lang") == "en"
    await page.reload()
    await page.wait_for_selector(".pile .port")
    assert "Site overview" in await page.inner_text("header")
    await page.click("#nav-alerts")
    await page.wait_for_selector("th[data-sort='first_ts']")
    assert await page.inner_text("th[data-sort='first_ts']") == "Raised"
    assert await _untranslated(page) == []
    await page.screenshot(path=tmp_path / "en.png")
    assert_not_blank(tmp_path / "en.png")
    await page.close()

"""The control room speaks Chinese by default and English after one click, every string from the
one dictionary (both languages hold the same keys), and the choice survives a reload."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from demo import DemoChain
from tests.gateway.test_alert_text import MESSAGES
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


async def test_alert_messages_read_in_chinese(chain: DemoChain, browser: Any) -> None:
    """Every message form reads in Chinese (no English word left), unchanged in English; the
    demo's own alerts show Chinese messages in the alert list."""
    page = await browser.new_page()
    await page.goto(chain.url)
    await page.wait_for_selector(".pile .port")
    shown: list[str] = await page.evaluate("ms => ms.map(trMessage)", list(MESSAGES))
    english = [(m, s) for m, s in zip(MESSAGES, shown, strict=True) if re.search(r"[a-z]{3,}", s)]
    assert english == []
    assert all(re.search(r"[\u4e00-\u9fff]", s) for s in shown)
    await page.click("#nav-alerts")
    row = await page.wait_for_selector(
        "tr[data-kind='socket_overtemp'], tr[data-kind='sensor_fault']", timeout=60_000
    )
    cell = await row.eval_on_selector("td:nth-child(8)", "td => [td.textContent, td.title]")
    assert re.search(r"[\u4e00-\u9fff]", cell[0]), cell
    assert not re.search(r"[a-z]{3,}", cell[0]), cell
    assert re.search(r"[a-z]{3,}", cell[1]), cell  # the English original on hover
    await page.click("#lang")
    await page.wait_for_selector("html[lang='en']")
    assert await page.evaluate("ms => ms.map(trMessage)", list(MESSAGES)) == list(MESSAGES)
    await page.close()

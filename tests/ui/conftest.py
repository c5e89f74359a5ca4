"""Fixtures of the control room's browser tests: the demo chain (simulator → agent → embedded
broker → gateway with SQLite) and the system's headless Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from demo import DemoChain, demo_chain
from demo.screenshot import chromium, chromium_path
from tests.support.servers import IN_CI

#: simulated seconds per real second: the demo's overheating fault fires in ~15 s, the first
#: charging sessions end in ~20 s
SPEED = 30.0


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[DemoChain]:
    async with demo_chain(tmp_path / "demo", 0, SPEED) as running:
        yield running
        await running.stop_agent()


def need_browser() -> None:
    """Fail under CI, skip loudly elsewhere, without the system Chromium or Playwright."""
    if chromium_path() is None:
        msg = "chromium not found: install the Debian package 'chromium' (scripts/setup.sh does)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(f"SKIPPED — NEEDS A REAL BROWSER: {msg}")
    try:
        import playwright  # noqa: F401, PLC0415
    except ImportError:
        msg = "playwright is missing: pip install -e '.[dev]'"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(f"SKIPPED — NEEDS PLAYWRIGHT: {msg}")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    need_browser()
    async with chromium() as b:
        yield b


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


async def get_json(url: str) -> Any:
    """GET ``url`` (outside the event loop) and decode its JSON."""
    return await asyncio.to_thread(_get, url)


def assert_not_blank(png: Path) -> None:
    """The screenshot shows a page: many colours and real contrast, not one flat colour."""
    from PIL import Image, ImageStat  # noqa: PLC0415 - pillow comes with matplotlib (report extra)

    with Image.open(png) as im:
        grey = im.convert("L")
        spread = ImageStat.Stat(grey).stddev[0]
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert spread > 10, f"{png}: flat image (grey stddev {spread:.1f})"
    assert len(colours) > 50, f"{png}: only {len(colours)} colours"

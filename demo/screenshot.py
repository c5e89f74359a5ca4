"""``chargewatch screenshot``: pictures of the control room for the README, from a live demo.

Runs the demo chain (:func:`demo.demo_chain`) for ``--seconds`` so that the injected faults
have raised alerts and sessions have ended, then opens the page in the system's headless
Chromium (Debian ``chromium``, driven by Playwright; no browser is downloaded) and saves
``dashboard.png`` (the site grid) and ``port.png`` (the overheating port's charts) under
``--out``; then writes the site's daily report of that day (``chargewatch report``) and saves
its first screen as ``report.png``. Needs the dev extra (``pip install -e '.[dev]'``) and
``apt-get install chromium``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from chargewatch import logs
from chargewatch.errors import ChargeWatchError

#: where Debian puts its Chromium; CHARGEWATCH_CHROMIUM overrides
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    """The system Chromium to drive, or None when none is installed."""
    env = os.environ.get("CHARGEWATCH_CHROMIUM")
    if env:
        return env
    return shutil.which("chromium") or next((p for p in CHROMIUM_PATHS if os.access(p, os.X_OK)), None)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium (a Playwright ``Browser``) started from the system's binary."""
    path = chromium_path()
    if path is None:
        raise ChargeWatchError("no Chromium found: apt-get install chromium (or set CHARGEWATCH_CHROMIUM)")
    try:
        from playwright.async_api import async_playwright  # noqa: PLC0415 - a dev-only dependency
    except ImportError as exc:
        raise ChargeWatchError("Playwright is missing: pip install -e '.[dev]'") from exc
    # as root (a container, CI) Chromium refuses to start with its sandbox
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=args)
        try:
            yield browser
        finally:
            await browser.close()


async def shoot(out: Path, seconds: float, speed: float) -> list[Path]:
    """Run the demo for ``seconds``, then save the screenshots; their paths."""
    from demo import demo_chain  # noqa: PLC0415

    shots = [("dashboard.png", "#/"), ("port.png", "#/port/pile-a1/2")]
    with tempfile.TemporaryDirectory(prefix="cw-shot-") as tmp:
        async with demo_chain(Path(tmp), 0, speed) as chain, chromium() as browser:
            await asyncio.sleep(seconds)
            page = await browser.new_page(viewport={"width": 1280, "height": 760})
            saved = []
            for name, route in shots:
                await page.goto(chain.url + route)
                await page.wait_for_selector("#live[data-live='1']")
                await page.wait_for_selector("main#view > *")
                await page.wait_for_timeout(800)  # the charts draw after their data arrives
                await page.screenshot(path=out / name)
                saved.append(out / name)
            await chain.stop_agent()
            saved.append(await _report_shot(page, Path(tmp), out / "report.png", chain.gw.clock.time()))
            await page.close()
    return saved


async def _report_shot(page: Any, workdir: Path, path: Path, now: float) -> Path:
    """Write the demo site's report of the day of ``now`` (:func:`demo.daily_report`), shoot it."""
    from demo import daily_report  # noqa: PLC0415

    index = await daily_report(workdir, now)
    await page.goto(index.as_uri())  # waits for the load event: the chart images are in
    await page.screenshot(path=path)
    return path


def main(argv: list[str]) -> int:
    """Entry point of ``chargewatch screenshot``."""
    parser = argparse.ArgumentParser(prog="chargewatch screenshot", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="folder for the PNGs")
    parser.add_argument("--seconds", type=float, default=25.0, help="demo time before the pictures")
    parser.add_argument("--speed", type=float, default=30.0, help="simulated seconds per real second")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logs.setup(args.log_level)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        saved = asyncio.run(shoot(args.out, args.seconds, args.speed))
    except ChargeWatchError as exc:
        print(f"chargewatch screenshot: {exc}", file=sys.stderr)
        return 2
    for path in saved:
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0

"""``chargewatch screenshot`` (which makes the README's pictures) works end to end: a live demo,
the system's headless Chromium, three PNGs (two pages and the daily report) that show something and
stay small."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.screenshot import main
from tests.ui.conftest import assert_not_blank, need_browser

pytestmark = pytest.mark.integration


def test_the_screenshot_command_writes_small_non_blank_pictures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_browser()
    assert main(["--out", str(tmp_path), "--seconds", "2", "--speed", "30"]) == 0
    printed = capsys.readouterr().out
    for name in ("dashboard.png", "port.png", "report.png"):
        png = tmp_path / name
        assert_not_blank(png)
        assert png.stat().st_size < 300_000
        assert f"{png} (" in printed

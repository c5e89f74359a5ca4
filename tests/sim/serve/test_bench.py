"""``chargewatch bench sim`` is bounded and ends with one JSON object (figures printed, not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_bench_sim_json_last_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "chargewatch_cli", "bench", "sim", "--json", "--piles", "4", "--seconds", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(out)
    assert result["ports"] == 40
    assert 0 < result["cpu_fraction_of_core"] < 2
    assert result["client_requests_ok"] > 0
    assert result["client_requests_failed"] == 0

"""The drain benchmark runs against a real Mosquitto and prints its figures (no speed assertion)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.bench_drain import drain_bench
from tests.support.servers import Mosquitto, require

pytestmark = pytest.mark.integration


async def test_drain_bench_reports_both_rates(mosquitto: Mosquitto) -> None:
    figures = await drain_bench(mosquitto.url, 5000)
    print(f"drain bench: {figures}")
    assert set(figures) == {"n", "drain_msgs_per_s", "paho_msgs_per_s", "drain_ratio"}
    assert figures["drain_msgs_per_s"] > 0
    assert figures["paho_msgs_per_s"] > 0
    assert figures["drain_ratio"] == pytest.approx(
        figures["drain_msgs_per_s"] / figures["paho_msgs_per_s"], 0.01
    )


def test_bench_agent_json_end_to_end() -> None:
    """``chargewatch bench agent --json`` (its own sim process and Mosquitto) prints the agreed keys."""
    require("mosquitto", "mosquitto")
    out = subprocess.run(
        [sys.executable, "-m", "chargewatch_cli", "bench", "agent", "--json", "--piles", "5",
         "--seconds", "1", "--drain", "500"],
        cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("piles", "cpu_fraction_of_core", "drain_msgs_per_s", "paho_msgs_per_s", "drain_ratio"):
        assert key in figures, key
    assert figures["piles"] == 5.0
    assert 0.0 < figures["cpu_fraction_of_core"] < 1.0
    assert figures["drain_msgs_per_s"] > 0

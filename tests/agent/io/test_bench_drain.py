"""The drain benchmark runs against a real Mosquitto and prints its figures (no speed assertion)."""

from __future__ import annotations

import pytest

from edge_agent.bench_drain import drain_bench
from tests.support.servers import Mosquitto

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

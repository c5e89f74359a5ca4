"""Health registry: weighted poll ratio and latency, publish rate on an injected clock, JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chargewatch.clock import ManualClock
from edge_agent.health import Health


def test_health_figures_and_json(tmp_path: Path) -> None:
    clock = ManualClock()
    h = Health(clock)
    h.poll_ok(0.010)
    for _ in range(10):
        h.poll_failed()
    assert h.read_latency_ms == pytest.approx(10.0)
    assert 0.5 < h.poll_success_ratio < 0.7
    assert h.publish_rate() == 0.0
    for _ in range(10):
        clock.advance(1.0)
        h.add_published(50)
    assert h.publish_rate() == pytest.approx(50.0)
    h.set_outbox(12, 3.5, 2)
    path = tmp_path / "health.json"
    h.write_json(path)
    data = json.loads(path.read_text())
    assert data["outbox_depth"] == 12.0
    assert data["outbox_dropped"] == 2.0
    assert data["polls_failed"] == 10.0

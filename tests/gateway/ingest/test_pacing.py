"""The discovery pacer: its read budget and its ``calm`` gate follow the event loop's lag."""

from __future__ import annotations

from gateway.ingest.limits import TokenBucket
from gateway.ingest.pacing import DiscoveryPacer
from gateway.metrics import Metrics


def test_lag_halves_the_read_rate_down_to_the_floor_and_calm_climbs_it_back() -> None:
    budget = TokenBucket(3000.0, 3000.0, 0.0)
    pacer = DiscoveryPacer(budget, Metrics(), max_lag=0.05, floor=100.0)
    rates = [pacer.adjust(0.2) for _ in range(7)]
    assert rates == [1500.0, 750.0, 375.0, 187.5, 100.0, 100.0, 100.0]
    assert not pacer.calm.is_set()
    assert budget.burst == 100.0
    assert budget.tokens <= 100.0
    rates = [pacer.adjust(0.0) for _ in range(12)]
    assert pacer.calm.is_set()
    assert rates[0] == 225.0  # 100 × 1.25 + 100
    assert rates == sorted(rates)
    assert rates[-1] == 3000.0  # never above the configured ceiling
    assert pacer.metrics.get("cw_discovery_read_per_s") == 3000.0

"""Discovery reads with spare CPU only: its read budget follows the event loop's lag.

The trusted session and the pipeline must never wait behind a flood the discovery session is
reading. Admission makes each refused message cheap, but on a starved machine even cheap is too
much when there are tens of thousands a second. :class:`DiscoveryPacer` samples the event loop's
lag every ``interval`` s (how late a sleep wakes up). Above ``max_lag`` the discovery session's
batches wait (:attr:`DiscoveryPacer.calm`) and its read rate halves, down to ``floor`` msgs/s so
that new devices are still found during a flood; below it the rate climbs back by a quarter plus
``floor``, up to ``ceiling`` (``limits.discovery_read_per_s``). What the discovery session does
not read, the broker drops for that session alone (routing.py).
"""

from __future__ import annotations

import asyncio
import logging

from chargewatch.logs import kv
from gateway.ingest.limits import TokenBucket
from gateway.metrics import Metrics

log = logging.getLogger(__name__)


class DiscoveryPacer:
    """AIMD on the discovery session's read budget, driven by the event loop's lag."""

    def __init__(
        self,
        budget: TokenBucket,
        metrics: Metrics,
        *,
        interval: float = 0.1,
        max_lag: float = 0.05,
        floor: float = 100.0,
    ) -> None:
        self.budget = budget
        self.metrics = metrics
        self.interval = interval
        self.max_lag = max_lag
        self.ceiling = budget.rate
        self.floor = min(floor, budget.rate)
        self._throttled = False
        #: set while the lag is below ``max_lag``: the discovery pipeline work waits for it
        self.calm = asyncio.Event()
        self.calm.set()

    def adjust(self, lag: float) -> float:
        """One step for a measured ``lag``; returns the new read rate (msgs/s)."""
        b = self.budget
        if lag > self.max_lag:
            b.rate = max(self.floor, b.rate / 2)
            self.calm.clear()
        else:
            b.rate = min(self.ceiling, b.rate * 1.25 + self.floor)
            self.calm.set()
        b.burst = max(1.0, b.rate)
        b.tokens = min(b.tokens, b.burst)
        throttled = b.rate < self.ceiling
        if throttled != self._throttled:
            self._throttled = throttled
            log.warning(kv("discovery_throttled" if throttled else "discovery_unthrottled", lag_s=lag))
        self.metrics.set("cw_discovery_read_per_s", b.rate)
        self.metrics.set("cw_event_loop_lag_seconds", lag)
        return b.rate

    async def run(self) -> None:
        """Sample the lag and adjust, forever (cancel to stop)."""
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            self.adjust(loop.time() - start - self.interval)

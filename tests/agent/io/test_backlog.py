"""A long outage compressed in time: capacity drops, events first, backlog oldest-first, live on time."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from edge_agent.acker import Acker
from edge_agent.mqtt import MqttLink
from edge_agent.outbox import EVENT_PRIO, Outbox
from tests.agent.io.support import add_tel, mqtt_for, outbox_for, wait_empty
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


class _MaxDelay(random.Random):
    """Always draws the maximum drain delay, so the acker is subscribed before the drain starts."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_outage_backlog_events_first_live_keeps_flowing(mosquitto: Mosquitto, tmp_path: Path) -> None:
    settings = outbox_for(
        tmp_path, capacity=3000, drain_rate=1500.0, resend_timeout=20.0, reconnect_drain_delay_max=0.5
    )
    with Outbox(settings) as box:
        mosquitto.kill()
        async with MqttLink(
            mqtt_for(mosquitto.url), box, agent="agent-1", devices=["pile-1"], rng=_MaxDelay()
        ) as link:
            with box.transaction():
                for i in range(5000):
                    add_tel(box, "pile-1", 1000.0 + i)
                    if i % 1000 == 999:
                        box.add_event("pile-1", 1000.0 + i, "interlock", 2, {"temp": 95.0})
            assert box.dropped_total == 5005 - 3000
            assert box.depth() == 3000
            backlog = {(r.device, r.boot, r.seq): r.prio for r in box.pending(limit=10_000)}
            assert sum(p == EVENT_PRIO for p in backlog.values()) == 5
            mosquitto.start()
            async with Acker(mosquitto.url) as acker:
                async with asyncio.timeout(10):
                    await acker.wait_ready()
                    await link.wait_connected()
                live: dict[tuple[str, int, int], float] = {}
                for _ in range(25):
                    seq = add_tel(box, "pile-1", time.time())
                    live[("pile-1", box.boot, seq)] = time.monotonic()
                    await asyncio.sleep(0.1)
                async with asyncio.timeout(30):
                    await wait_empty(box)
            order = [k for k in acker.order if k in backlog]
            assert order[:5] == sorted(k for k, p in backlog.items() if p == EVENT_PRIO)
            assert order[5:] == sorted(order[5:]), "backlog telemetry not sent oldest-first"
            missing = set(backlog) - set(acker.seen)
            assert len(missing) == box.dropped_total - 2005, "only capacity drops may be missing"
            delays = [acker.seen[k] - t for k, t in live.items()]
            last_backlog = max(acker.seen[k] for k in backlog if k in acker.seen)
            assert min(acker.seen[k] for k in live) < last_backlog, "live did not overlap the drain"
            assert max(delays) < 2.0
            assert set(live) <= set(acker.seen)
            print(f"live latency during drain: max {max(delays) * 1000:.1f} ms")


async def test_resend_keeps_going_after_a_whole_window_was_lost(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """Rows published while no consumer is subscribed are lost by the broker, a full window of
    them; nothing acks, so only resending can recover. The link must keep resending (bounded
    per tick) instead of waiting for the window to free, and drain everything once a consumer
    appears. (Regression: a CI run hung here after a broker restart.)"""
    settings = outbox_for(tmp_path, resend_timeout=0.3, drain_window=10)
    with Outbox(settings) as box:
        async with MqttLink(mqtt_for(mosquitto.url), box, agent="agent-1", devices=["pile-1"]) as link:
            async with asyncio.timeout(10):
                await link.wait_connected()
            committed = [add_tel(box, "pile-1", 1000.0 + i) for i in range(35)]
            await asyncio.sleep(1.0)
            assert box.depth() == 35
            async with Acker(mosquitto.url) as acker:
                async with asyncio.timeout(20):
                    await acker.wait_ready()
                    await wait_empty(box)
            assert acker.seqs("pile-1", box.boot) == committed
            assert acker.conflicts == 0

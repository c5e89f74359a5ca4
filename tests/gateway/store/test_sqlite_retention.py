"""The SQLite store's lifecycle with an injected clock: rollups, then pruning, on its worker thread."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chargewatch.clock import ManualClock
from gateway.store import Retention, SQLiteStore, StoreError, UnknownSeriesError

DAY = 86400.0
START = 1_790_000_000.0 // 3600 * 3600  # on an hour boundary
R = Retention(raw_days=2, downsampled_days=5, downsample_s=300)


def _port_lines(t0: float, minutes: int) -> list[str]:
    """One port sample a minute: voltage cycling 230..234, state 1, a flags string."""
    return [
        f'port,device=p1,port=0 voltage={230 + i % 5}.0,state=1i,flags="x:y" {int((t0 + 60 * i) * 1000)}'
        for i in range(minutes)
    ]


async def test_rollups_then_pruning_follow_the_injected_clock(tmp_path: Path) -> None:
    clock = ManualClock(START)
    async with SQLiteStore(tmp_path / "s.sqlite", retention=R, clock=clock, maintain_every_s=3600) as store:
        await store.write(_port_lines(START, 30))  # 30 minutes: 6 buckets of 5 minutes
        await store.write([f"event,device=p1,kind=x n=1 {int(START * 1000)}"])
        clock.advance(20 * 60)  # buckets ending ≥ one bucket ago are folded: the first 3
        first = await store.maintain()
        assert (first.rollups, first.pruned_points) == (3, 0)
        clock.advance(DAY)
        assert (await store.maintain()).rollups == 4  # the last folded bucket again, plus 3 new
        rollups = await store.rollups("port", {"device": "p1"}, 0, int(clock.time() * 1000))
        assert [r.ts for r in rollups] == [int((START + 300 * i) * 1000) for i in range(6)]
        assert rollups[0].fields == {
            "mean_voltage": 232.0,
            "max_voltage": 234.0,
            "mean_state": 1.0,
            "max_state": 1.0,
        }
        assert rollups[0].tags == {"device": "p1", "port": "0"}
        clock.advance(1.5 * DAY)  # the raw points (and the event) are now past 2 days
        done = await store.maintain()
        assert done.pruned_points == 31
        assert await store.count("port", "voltage", None, 0, int(clock.time() * 1000)) == 0
        assert done.pruned_rollups == 0
        clock.advance(3 * DAY)  # the rollups are now past 5 days
        assert (await store.maintain()).pruned_rollups == 6


async def test_the_store_runs_its_pass_at_start_and_keeps_fresh_points(tmp_path: Path) -> None:
    clock = ManualClock(START + 10 * DAY)
    path = tmp_path / "s.sqlite"
    async with SQLiteStore(path) as plain:  # written without retention: nothing is pruned
        await plain.write(_port_lines(START, 5) + _port_lines(START + 10 * DAY - 600, 5))
        with pytest.raises(StoreError, match="needs a retention"):
            await plain.maintain()
    async with SQLiteStore(path, retention=R, clock=clock) as store:
        for _ in range(100):
            if await store.count("port", "voltage", None, 0, int(START * 1000) + 600_000) == 0:
                break
            await asyncio.sleep(0.02)
        end = int(clock.time() * 1000)
        assert await store.count("port", "voltage", None, 0, end) == 5, "only the old points went"


async def test_series_of_an_unknown_field_is_a_typed_error(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "s.sqlite") as store:
        assert await store.series("port", ["voltage"], None, 0, 10**13) == []
        with pytest.raises(UnknownSeriesError, match="unknown measurement"):
            await store.series("nope", ["voltage"], None, 0, 10**13)
        await store.write(_port_lines(START, 2))
        with pytest.raises(UnknownSeriesError, match="field 'volts' of 'port'; known: flags, state, voltage"):
            await store.series("port", ["volts"], None, 0, 10**13)
        assert len(await store.series("port", ["voltage"], None, 0, 10**13)) == 2
        # several fields of which some are not written yet (the command audit trail's replies)
        assert len(await store.series("port", ["voltage", "volts"], None, 0, 10**13)) == 2
        assert await store.series("command", ["result"], None, 0, 10**13) == []

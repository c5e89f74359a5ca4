"""The pipeline's ordering guarantees, with a fake spool at the SpoolSink seam."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from chargewatch import topics
from chargewatch.errors import ChargeWatchError
from chargewatch.messages import AckRange, Telemetry, encode
from gateway.ingest.alerts import ThresholdRule
from gateway.ingest.dedupe import SeqTracker
from gateway.ingest.pipeline import IngestPipeline, SpoolCommitError
from gateway.ingest.state import IngestState
from gateway.ingest.validate import TimePolicy
from gateway.liveness import Liveness
from gateway.metrics import Metrics

NOW = 1_750_000_000.0


class _Spool:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.fail = False

    async def append(self, lines: Sequence[str], meta: str = "") -> int:
        if self.fail:
            raise ChargeWatchError("disk full")
        self.batches.append(list(lines))
        return len(self.batches)


def _pipeline(tmp: Path, spool: _Spool) -> tuple[IngestPipeline, list[tuple[str, bytes, bool]]]:
    published: list[tuple[str, bytes, bool]] = []
    state = IngestState(tmp / "state.sqlite")
    tracker = SeqTracker()
    tracker.load(state.load_marks())
    p = IngestPipeline(
        site="s",
        spool=spool,
        state=state,
        tracker=tracker,
        analytics=ThresholdRule(samples=1),
        liveness=Liveness(90.0),
        metrics=Metrics(),
        policy=TimePolicy(60.0, 86400.0),
        publish=lambda t, p, r: published.append((t, p, r)),
    )
    return p, published


def _item(seq: int, temp: float = 30.0) -> tuple[str, bytes, float]:
    msg = Telemetry(
        device="d1",
        boot=1,
        seq=seq,
        ts=NOW + seq,
        model="cw-pile-10",
        ports={"socket_temp": [temp, *[30.0] * 9]},
    )
    return topics.device_topic("d1", topics.TELEMETRY), encode(msg), NOW + 10


async def test_failed_spool_commit_acks_nothing_and_saves_no_marks(tmp_path: Path) -> None:
    spool = _Spool()
    p, _ = _pipeline(tmp_path, spool)
    spool.fail = True
    with pytest.raises(SpoolCommitError):
        await p.handle([_item(0), _item(1)])
    assert p.acks.take() == []
    restarted, _ = _pipeline(tmp_path, _Spool())
    await restarted.handle([_item(0), _item(1)])  # redelivered after the restart: stored, not duplicates
    assert [a.ranges for a in restarted.acks.take()] == [[AckRange(0, 1)]]
    assert restarted.metrics.get("cw_ingest_duplicates_total") == 0


async def test_one_commit_per_batch_then_acks_and_alerts(tmp_path: Path) -> None:
    spool = _Spool()
    p, published = _pipeline(tmp_path, spool)
    await p.handle([_item(0), _item(1, temp=99.0), _item(1, temp=99.0)])
    assert len(spool.batches[0]) == 22  # two messages x (10 ports + pile); the replay is not stored
    assert spool.batches[1][0].startswith("alert,")
    assert [t for t, _, _ in published] == ["cw/v1/dev/d1/alert"]
    acks = p.acks.take()
    assert [(a.device, a.boot, a.ranges) for a in acks] == [("d1", 1, [AckRange(0, 1)])]
    assert p.metrics.get("cw_ingest_duplicates_total") == 1


async def test_a_refused_but_acknowledged_seq_is_no_data_gap(tmp_path: Path) -> None:
    """A device clock running ahead (the agent stamps device time) gets a message dead-lettered
    as ``future_ts`` and acked, so the agent deletes it: its seq arrived and is not missing.
    Recorded, it is no ``data_gap`` once its neighbours are stored, and a second copy of it (the
    discovery session's, a resend) is a duplicate, not a second dead letter."""
    spool = _Spool()
    p, _ = _pipeline(tmp_path, spool)
    topic, ahead, received = _item(1)
    ahead = ahead.replace(f'"ts":{NOW + 1}'.encode(), f'"ts":{NOW + 3600}'.encode())
    await p.handle([_item(0), (topic, ahead, received), _item(2)])
    await p.handle([(topic, ahead, received + 1)])
    assert [d.reason for d in p.state.dead_letters(10)] == ["duplicate", "future_ts"]
    assert [a.ranges for a in p.acks.take()] == [[AckRange(0, 2)]]
    assert p.tracker.seen("d1", 1, 1)
    await p.tick(received + p.tracker.gap_timeout + 1)
    assert p.metrics.get("cw_ingest_gaps_total") == 0
    assert not any("data_gap" in ln for batch in spool.batches for ln in batch)

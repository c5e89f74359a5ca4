"""One message that makes a stage raise is dead-lettered with the stage's reason; the rest of the
batch is stored, acked and analysed, and the pipeline goes on (fakes at the Analytics and
line-protocol seams: no real message makes them raise any more)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from chargewatch import topics
from chargewatch.messages import AckRange, Event, Telemetry, encode
from gateway.ingest import pipeline as pipeline_module
from gateway.ingest.alerts import AlertChange, ThresholdRule
from gateway.ingest.dedupe import SeqTracker, Verdict
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.state import IngestState
from gateway.ingest.validate import TimePolicy
from gateway.lineproto import DeviceKind, telemetry_lines
from gateway.liveness import Liveness
from gateway.metrics import Metrics

NOW = 1_750_000_000.0


class _Spool:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def append(self, lines: Sequence[str], meta: str = "") -> int:
        self.lines += lines
        return len(self.lines)


class _Breaks(ThresholdRule):
    """The threshold rule, except that it raises on one device's telemetry and on ticks; like
    analytics.Pipeline, a batch call checks its inputs before it changes any state."""

    def __init__(self) -> None:
        super().__init__(samples=1)
        self.batches = 0

    def process_batch(self, msgs: Sequence[Telemetry]) -> list[AlertChange]:
        self.batches += 1
        if any(msg.device == "bad" for msg in msgs):
            raise ValueError("operands could not be broadcast together")
        return super().process_batch(msgs)

    def process_telemetry(self, msg: Telemetry) -> list[AlertChange]:
        if msg.device == "bad":
            raise ValueError("operands could not be broadcast together")
        return super().process_telemetry(msg)

    def tick(self, now: float) -> list[AlertChange]:
        raise RuntimeError("tick broke")


def _item(device: str, seq: int, temp: float = 30.0) -> tuple[str, bytes, float]:
    msg = Telemetry(
        device=device,
        boot=1,
        seq=seq,
        ts=NOW - 5 + seq,
        model="cw-pile-10",
        ports={"socket_temp": [temp] * 10},
    )
    return topics.device_topic(device, topics.TELEMETRY), encode(msg), NOW


def _pipeline(tmp: Path, analytics: ThresholdRule) -> tuple[IngestPipeline, _Spool, list[str]]:
    spool = _Spool()
    published: list[str] = []
    p = IngestPipeline(
        site="s",
        spool=spool,
        state=IngestState(tmp / "state.sqlite"),
        tracker=SeqTracker(),
        analytics=analytics,
        liveness=Liveness(90.0),
        metrics=Metrics(),
        policy=TimePolicy(60.0, 86400.0),
        publish=lambda topic, _p, _r: published.append(topic),
    )
    return p, spool, published


async def test_analytics_error_dead_letters_the_culprit_and_keeps_the_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    analytics = _Breaks()
    p, spool, published = _pipeline(tmp_path, analytics)
    event = Event(device="ok", boot=1, seq=9, ts=NOW - 1, kind="device_fault", port=1)
    with caplog.at_level(logging.ERROR):
        await p.handle(
            [
                _item("ok", 0, temp=99.0),
                _item("bad", 0, temp=99.0),
                _item("ok2", 0, temp=99.0),
                (topics.device_topic("ok", topics.EVENT), encode(event), NOW),
            ]
        )
    assert analytics.batches == 1  # the batch call failed; the fallback ran message by message
    assert sum(ln.startswith("pile,") for ln in spool.lines) == 3  # every message stored
    assert sorted(published) == sorted([topics.device_topic(d, topics.ALERT) for d in ("ok", "ok2")] * 10)
    letters = p.state.dead_letters()
    assert [(d.reason, d.topic) for d in letters] == [("analytics_error", "cw/v1/dev/bad/telemetry")]
    assert "ValueError: operands could not be broadcast together" in letters[0].detail
    assert p.metrics.get("cw_ingest_analytics_errors_total") == 1
    assert p.metrics.get("cw_ingest_messages_total") == 4
    acks = {(a.device, tuple(a.ranges)) for a in p.acks.take()}
    assert acks == {
        ("ok", (AckRange(0, 0), AckRange(9, 9))),
        ("bad", (AckRange(0, 0),)),
        ("ok2", (AckRange(0, 0),)),
    }
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("analytics_error")]
    assert "device=bad" in line
    assert "\n" not in line
    await p.tick(NOW + 1)  # a failing analytics tick is counted, liveness and gaps go on
    assert p.metrics.get("cw_ingest_analytics_errors_total") == 2
    await p.handle([_item("bad", 1), _item("ok", 1)])  # and the next batch is handled as ever
    assert p.metrics.get("cw_ingest_messages_total") == 6


async def test_line_protocol_error_dead_letters_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lines(msg: Telemetry, site: str, kind: DeviceKind = "pile") -> list[str]:
        if msg.device == "bad":
            raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")
        return telemetry_lines(msg, site, kind)

    monkeypatch.setattr(pipeline_module, "telemetry_lines", lines)
    p, spool, _ = _pipeline(tmp_path, ThresholdRule())
    await p.handle([_item("ok", 0), _item("bad", 0), _item("ok", 1)])
    assert sum(ln.startswith("pile,") for ln in spool.lines) == 2
    assert [d.reason for d in p.state.dead_letters()] == ["line_protocol"]
    assert p.metrics.get("cw_ingest_rejected_total", reason="line_protocol") == 1
    assert [(a.device, a.ranges) for a in p.acks.take()] == [("ok", [AckRange(0, 1)])]  # never acked
    assert p.tracker.observe("bad", 1, 0, NOW) is Verdict.NEW  # its seq was never marked as seen

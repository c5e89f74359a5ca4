"""Shared helpers of the evidence and port-cut tests: a real ingest pipeline with an evidence
recorder, and pile telemetry with one port to heat."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from chargewatch import topics
from chargewatch.clock import ManualClock
from chargewatch.messages import Alert, DeviceMessage, Telemetry, decode_message, encode
from chargewatch.profiles import load_profiles
from gateway.evidence import EvidenceRecorder, EvidenceStore
from gateway.ingest.alerts import ThresholdRule
from gateway.ingest.dedupe import SeqTracker
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.state import IngestState
from gateway.ingest.validate import TimePolicy
from gateway.liveness import Liveness
from gateway.metrics import Metrics
from gateway.spool import Spool
from gateway.store import SQLiteStore

NOW = 1_750_000_000.0
ALERT = "d1.3.socket_temp_high.1"
Item = tuple[str, bytes, float]


def tel(
    seq: int,
    temp: float,
    *,
    device: str = "d1",
    ts: float | None = None,
    faults: dict[int, int] | None = None,
) -> Telemetry:
    temps: list[float | None] = [30.0] * 10
    temps[3] = temp
    codes: list[float | None] = [float((faults or {}).get(p, 0)) for p in range(10)]
    return Telemetry(
        device=device,
        boot=1,
        seq=seq,
        ts=NOW + seq if ts is None else ts,
        model="cw-pile-10",
        ports={"socket_temp": temps, "power": [float(100 + p) for p in range(10)], "fault_code": codes},
        values={"ambient_temp": 25.0, "total_power": 1045.0, "smoke_alarm": 0.0, "heartbeat": float(seq)},
    )


def item(msg: DeviceMessage) -> Item:
    leaf = topics.TELEMETRY if isinstance(msg, Telemetry) else topics.EVENT
    return topics.device_topic(msg.device, leaf), encode(msg), msg.ts + 1


def recorder(path: Path, clock: ManualClock, **kw: float) -> EvidenceRecorder:
    opts: dict[str, float] = {"before_s": 10.0, "after_s": 10.0, "grace_s": 2.0, "timeout_s": 600.0} | kw
    return EvidenceRecorder(
        EvidenceStore(path),
        load_profiles(),
        before_s=opts["before_s"],
        after_s=opts["after_s"],
        grace_s=opts["grace_s"],
        timeout_s=opts["timeout_s"],
        max_samples=int(opts.get("max_samples", 2000)),
        max_open=int(opts.get("max_open", 1000)),
        clock=clock.time,
    )


def pipeline(
    tmp: Path, spool: Spool, evidence: EvidenceRecorder | None, published: list[Alert]
) -> IngestPipeline:
    def publish(_topic: str, payload: bytes, _retain: bool) -> None:
        msg = decode_message(payload)
        assert isinstance(msg, Alert)
        published.append(msg)

    return IngestPipeline(
        site="s",
        spool=spool,
        state=IngestState(tmp / "state.sqlite"),
        tracker=SeqTracker(),
        analytics=ThresholdRule(limit=80.0, clear_below=70.0, samples=2),
        liveness=Liveness(1e9),  # no offline pages: these tests tick far ahead
        metrics=Metrics(),
        policy=TimePolicy(3600.0, 86400.0),
        publish=publish,
        profiles=load_profiles(),
        evidence=evidence,
    )


@contextlib.asynccontextmanager
async def evidence_chain(
    tmp: Path, clock: ManualClock, published: list[Alert], **kw: float
) -> AsyncIterator[tuple[IngestPipeline, EvidenceRecorder]]:
    """A real SQLite store and spool, an evidence recorder (``kw`` as for :func:`recorder`) and
    the ingest pipeline over them; alerts it publishes land in ``published``."""
    async with (
        SQLiteStore(tmp / "store.sqlite") as store,
        Spool(tmp / "spool.sqlite", store) as spool,
        recorder(tmp / "evidence.sqlite", clock, **kw) as rec,
    ):
        yield pipeline(tmp, spool, rec, published), rec

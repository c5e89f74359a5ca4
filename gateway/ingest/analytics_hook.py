"""The analytics pipeline (``analytics.Pipeline``) behind the gateway's :class:`Analytics` seam.

* Alert changes are mapped to :class:`gateway.ingest.alerts.AlertChange`; the gateway's alert
  book keys them by (device, port, kind) and gives the ids that survive restarts.
* ``device_offline`` from the pipeline is dropped: liveness is the gateway's (gateway clock,
  status and last wills); the pipeline judges by message timestamps, which a draining
  backlog makes look old.
* Learning survives restarts: :meth:`PipelineHook.save` writes a checkpoint atomically
  (temp file + rename), :meth:`PipelineHook.load` restores it; a checkpoint that cannot be read
  is logged once and learning starts fresh (it is an optimisation, not data).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from analytics import AlertChange as PipelineChange
from analytics import AnalyticsError, Pipeline
from chargewatch.logs import kv
from chargewatch.messages import Event, Telemetry
from gateway.ingest.alerts import AlertChange

log = logging.getLogger(__name__)

_GATEWAY_OWNED = frozenset({"device_offline"})


def _convert(changes: Sequence[PipelineChange]) -> list[AlertChange]:
    return [
        AlertChange(
            device=c.device,
            kind=c.kind,
            state=c.state,
            severity=c.severity,
            ts=c.ts,
            port=c.port,
            message=c.message,
            evidence=c.evidence,
        )
        for c in changes
        if c.kind not in _GATEWAY_OWNED
    ]


class PipelineHook:
    """Adapts ``analytics.Pipeline`` to the gateway's Analytics protocol; checkpoints to ``path``."""

    def __init__(self, pipeline: Pipeline, path: Path | str) -> None:
        self.pipeline = pipeline
        self.path = Path(path)

    def process_telemetry(self, msg: Telemetry) -> list[AlertChange]:
        return _convert(self.pipeline.process_telemetry(msg))

    def process_batch(self, msgs: Sequence[Telemetry]) -> list[AlertChange]:
        return _convert(self.pipeline.process_batch(msgs))

    def process_event(self, msg: Event) -> list[AlertChange]:
        return _convert(self.pipeline.process_event(msg))

    def tick(self, now: float) -> list[AlertChange]:
        return _convert(self.pipeline.tick(now))

    def load(self) -> bool:
        """Restore the last checkpoint if there is one; True when restored."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return False
        try:
            self.pipeline.restore(data)
        except AnalyticsError as exc:
            log.warning(kv("analytics_checkpoint_ignored", path=self.path, error=exc))
            return False
        return True

    def save(self, data: bytes | None = None) -> None:
        """Write a checkpoint atomically: ``data`` (a snapshot taken on the event loop, so no
        batch mutates the state while it is pickled), else one taken now."""
        tmp = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as f:
            f.write(self.pipeline.checkpoint() if data is None else data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)

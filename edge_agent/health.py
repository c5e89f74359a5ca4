"""The agent's own health: a small registry the Modbus side and the MQTT link both update.

Read it locally with :meth:`Health.snapshot` (a flat ``name -> float`` dict) or from the JSON
file :meth:`Health.write_json` writes atomically (the link refreshes it with every status when
given ``health_file``); remotely it is the ``health`` field of the retained agent Status.

Keys: ``polls_ok``, ``polls_failed``, ``poll_success_ratio`` (exponentially weighted over about
the last 20 polls), ``read_latency_ms`` (same weighting), ``outbox_depth``,
``outbox_oldest_age_s``, ``outbox_dropped``, ``published``, ``publish_rate`` (msgs/s over the
last minute), ``acked``, ``acks_beyond_sent`` (acks ignored, in part or whole, for naming seqs
this process never published), ``commands``, ``commands_refused``, ``connected``.
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path

from chargewatch.clock import Clock, SystemClock

_ALPHA = 0.05
_RATE_WINDOW = 60.0


class Health:
    """Counters and gauges of one agent process; cheap enough to update on every poll/publish."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self.polls_ok = 0
        self.polls_failed = 0
        self.poll_success_ratio = 1.0
        self.read_latency_ms = 0.0
        self.outbox_depth = 0
        self.outbox_oldest_age_s = 0.0
        self.outbox_dropped = 0
        self.published = 0
        self.acked = 0
        self.acks_beyond_sent = 0
        self.commands = 0
        self.commands_refused = 0
        self.connected = False
        self._marks: deque[tuple[float, int]] = deque()

    def poll_ok(self, latency_s: float) -> None:
        """One successful device poll that took ``latency_s``."""
        self.polls_ok += 1
        self.poll_success_ratio += _ALPHA * (1.0 - self.poll_success_ratio)
        ms = latency_s * 1000.0
        self.read_latency_ms = (
            ms if self.polls_ok == 1 else self.read_latency_ms + _ALPHA * (ms - self.read_latency_ms)
        )

    def poll_failed(self) -> None:
        """One failed device poll (timeout, exception response, bad frame)."""
        self.polls_failed += 1
        self.poll_success_ratio -= _ALPHA * self.poll_success_ratio

    def set_outbox(self, depth: int, oldest_age_s: float, dropped: int) -> None:
        self.outbox_depth = depth
        self.outbox_oldest_age_s = oldest_age_s
        self.outbox_dropped = dropped

    def add_published(self, n: int = 1) -> None:
        self.published += n

    def add_acked(self, n: int) -> None:
        self.acked += n

    def publish_rate(self) -> float:
        """Messages per second over the last minute (0 until two marks exist)."""
        now = self._clock.monotonic()
        marks = self._marks
        if not marks or now - marks[-1][0] >= 1.0:
            marks.append((now, self.published))
        while len(marks) > 2 and now - marks[0][0] > _RATE_WINDOW:
            marks.popleft()
        t0, n0 = marks[0]
        return (self.published - n0) / (now - t0) if now > t0 else 0.0

    def snapshot(self) -> dict[str, float]:
        """All figures as floats, keyed by the names in the module docstring."""
        return {
            "polls_ok": float(self.polls_ok),
            "polls_failed": float(self.polls_failed),
            "poll_success_ratio": round(self.poll_success_ratio, 4),
            "read_latency_ms": round(self.read_latency_ms, 3),
            "outbox_depth": float(self.outbox_depth),
            "outbox_oldest_age_s": round(self.outbox_oldest_age_s, 3),
            "outbox_dropped": float(self.outbox_dropped),
            "published": float(self.published),
            "publish_rate": round(self.publish_rate(), 3),
            "acked": float(self.acked),
            "acks_beyond_sent": float(self.acks_beyond_sent),
            "commands": float(self.commands),
            "commands_refused": float(self.commands_refused),
            "connected": 1.0 if self.connected else 0.0,
        }

    def write_json(self, path: Path) -> None:
        """Write :meth:`snapshot` to ``path`` atomically (write a temp file, then rename)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.snapshot(), sort_keys=True))
        os.replace(tmp, path)

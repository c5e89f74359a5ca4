"""Event time per device: analytics see each device's messages in source-time order.

MQTT delivers a reconnected agent's backlog after (or between) its live messages, and resends
after a gateway restart arrive late too. Every accepted message is stored whatever its order;
:class:`EventClock` decides which of them the analytics may *act* on:

* the messages of one received batch are put in source-time order (stable, per device);
* a message older than the newest one the analytics already consumed for its device is
  *late*: the live stream has moved on, so it can neither resolve nor re-open an alert (the
  alert book refuses such changes too, see :class:`gateway.ingest.alerts.AlertBook`); it is
  stored and counted (``cw_analytics_late_total``) but not analysed (logged once per device).

This is one decision with the stale-data rule of validation (``TimePolicy.stale_after``: a
message whose source time is far behind its arrival): both kinds are data, never a page.

The watermarks start from the analytics' own (a restored checkpoint), so messages re-sent to
a restarted gateway are not analysed twice.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Collection, Mapping, Sequence

from chargewatch.logs import kv
from chargewatch.messages import DeviceMessage

log = logging.getLogger(__name__)


class EventClock:
    """Per-device source-time watermark of what the analytics consumed."""

    def __init__(self, marks: Mapping[str, float] | None = None) -> None:
        self.marks: dict[str, float] = dict(marks or {})
        self.late_total = 0
        self._late_logged: set[str] = set()

    def live(self, msgs: Sequence[DeviceMessage], skip: Collection[int] = ()) -> list[DeviceMessage]:
        """The messages analytics and liveness may act on, in source-time order; advances the
        marks. ``skip`` holds the ``id()`` of messages validation found stale (their source time
        too far behind their arrival): like late ones they are stored but never acted on."""
        if skip:
            msgs = [m for m in msgs if id(m) not in skip]
        ordered = sorted(msgs, key=lambda m: m.ts) if _unordered(msgs) else msgs
        marks = self.marks
        out: list[DeviceMessage] = []
        for msg in ordered:
            mark = marks.get(msg.device)
            if mark is not None and msg.ts < mark:
                self.late_total += 1
                if msg.device not in self._late_logged:
                    self._late_logged.add(msg.device)
                    log.info(kv("late_data_not_analysed", device=msg.device, ts=msg.ts, watermark=mark))
                continue
            marks[msg.device] = msg.ts
            out.append(msg)
        return out

    def mark(self, device: str) -> float | None:
        """The newest source time consumed for ``device`` (None before its first message)."""
        return self.marks.get(device)


def _unordered(msgs: Sequence[DeviceMessage]) -> bool:
    return any(b.ts < a.ts for a, b in itertools.pairwise(msgs))

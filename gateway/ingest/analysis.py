"""The analyse stage of the ingest: what the accepted messages of a batch mean, and the timers.

:meth:`BatchAnalysis.batch` runs while the batch's spool commit is in flight (nothing here acks,
publishes or writes, so durability is unaffected). It

* keeps the latest telemetry per device (``last``, shown by the HTTP API) from every accepted
  message, stale and late ones included;
* lets through only the messages :meth:`EventClock.live <gateway.ingest.eventtime.EventClock.live>`
  calls live — not stale on arrival, not behind what the analytics already consumed for the
  device — to the port cuts (:mod:`gateway.ingest.portcut`), the analytics and liveness;
* counts ``cw_ingest_messages_total``, ``cw_ingest_port_samples_total``,
  ``cw_analytics_late_total`` and sets ``cw_ingest_lag_seconds``.

Analytics are isolated per message: a run of consecutive telemetry is analysed in one
``process_batch`` call; when it raises, the run is analysed again message by message and the
culprit is dead-lettered as ``analytics_error`` (it stays stored and acked: data is data) with
one log line naming the exception. This analyses every message exactly once when the batch call
raises before it changes any state, which ``analytics.Pipeline.process_batch`` does by checking
its inputs first; a failure deeper in a run may have analysed its first messages already, and
they are analysed again. :meth:`BatchAnalysis.tick` runs the analytics timers (an
exception there is logged and counted; liveness and the next ticks go on) and the liveness
timers. Both return alert changes for :class:`gateway.ingest.raiser.AlertRaiser`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from chargewatch import topics
from chargewatch.logs import describe, kv
from chargewatch.messages import DeviceMessage, Event, Status, Telemetry, encode
from gateway.ingest.alerts import AlertChange, Analytics
from gateway.ingest.eventtime import EventClock
from gateway.ingest.limits import DeadItem
from gateway.ingest.portcut import PortCuts
from gateway.ingest.raiser import offline_changes
from gateway.liveness import Liveness, Transition
from gateway.metrics import Metrics

# the ingest pipeline's logger: these lines keep ``logger=gateway.ingest.pipeline``
log = logging.getLogger("gateway.ingest.pipeline")

M = TypeVar("M", Telemetry, Event)


class BatchAnalysis:
    """Analytics, port cuts, liveness and ingest metrics of accepted messages, in event time."""

    def __init__(
        self, *, analytics: Analytics, liveness: Liveness, metrics: Metrics, cuts: PortCuts, clock: EventClock
    ) -> None:
        self.analytics = analytics
        self.liveness = liveness
        self.metrics = metrics
        self.cuts = cuts
        self.clock = clock
        self.last: dict[str, Telemetry] = {}

    def batch(
        self,
        accepted: Sequence[DeviceMessage],
        stale: Sequence[DeviceMessage],
        statuses: Sequence[tuple[str, Status]],
        dead: list[DeadItem],
        now: float,
    ) -> tuple[list[AlertChange], list[Transition]]:
        """The alert changes and liveness transitions of one batch's accepted messages and agent
        statuses; messages whose analytics fail are appended to ``dead``. Stale and late
        messages update the latest values but reach neither analytics nor liveness."""
        changes: list[AlertChange] = []
        transitions: list[Transition] = []
        samples = 0
        last = self.last
        run: list[Telemetry] = []  # consecutive telemetry, analysed in one call
        for msg in accepted:
            if isinstance(msg, Telemetry):
                prev = last.get(msg.device)
                if prev is None or msg.ts >= prev.ts:
                    last[msg.device] = msg
                samples += max(map(len, msg.ports.values()), default=0)
        late_before = self.clock.late_total
        live = self.clock.live(accepted, skip={id(m) for m in stale})
        changes += self.cuts.observe(accepted, live)
        for msg in live:
            if isinstance(msg, Telemetry):
                run.append(msg)
            else:
                if run:
                    changes += self._run(run, dead, now)
                    run = []
                changes += self._guarded(self.analytics.process_event, msg, dead, now)
        if run:
            changes += self._run(run, dead, now)
        if self.clock.late_total != late_before:
            self.metrics.inc("cw_analytics_late_total", self.clock.late_total - late_before)
        transitions += self._liveness(live, now)
        for agent, st in statuses:
            transitions += self.liveness.status(agent, st, now)
        if accepted:
            self.metrics.inc("cw_ingest_messages_total", len(accepted))
            self.metrics.inc("cw_ingest_port_samples_total", samples)
            self.metrics.set("cw_ingest_lag_seconds", now - accepted[-1].ts)
        return changes, transitions

    def tick(self, now: float) -> list[AlertChange]:
        """The analytics timers' changes, then those of devices and agents gone silent."""
        try:
            changes = list(self.analytics.tick(now))
        except Exception as exc:  # liveness, gaps and the next ticks go on
            log.error(kv("analytics_tick_error", error=describe(exc)))  # noqa: TRY400 -- one line
            self.metrics.inc("cw_ingest_analytics_errors_total")
            changes = []
        changes += offline_changes(self.liveness.tick(now))
        return changes

    def _run(self, run: list[Telemetry], dead: list[DeadItem], now: float) -> list[AlertChange]:
        """The changes of a run of telemetry; message by message when the batch call fails."""
        try:
            return list(self.analytics.process_batch(run))
        except Exception as exc:  # isolate the culprit below; the gateway goes on
            log.warning(kv("analytics_batch_failed", messages=len(run), error=describe(exc)))
        changes: list[AlertChange] = []
        for msg in run:
            changes += self._guarded(self.analytics.process_telemetry, msg, dead, now)
        return changes

    def _guarded(
        self, fn: Callable[[M], Sequence[AlertChange]], msg: M, dead: list[DeadItem], now: float
    ) -> list[AlertChange]:
        """``fn(msg)``; an exception dead-letters ``msg`` as ``analytics_error`` (it stays stored)."""
        try:
            return list(fn(msg))
        except Exception as exc:  # one message must not stop analytics for the others
            error = describe(exc)
            log.error(kv("analytics_error", device=msg.device, seq=msg.seq, error=error))  # noqa: TRY400
            self.metrics.inc("cw_ingest_analytics_errors_total")
            leaf = topics.TELEMETRY if isinstance(msg, Telemetry) else topics.EVENT
            dead.append((now, topics.device_topic(msg.device, leaf), "analytics_error", error, encode(msg)))
            return []

    def _liveness(self, live: Sequence[DeviceMessage], now: float) -> list[Transition]:
        """Live messages keep their devices online (a backlog behind the live stream does not);
        the agent's ``device_down`` / ``device_up`` events page and clear ``device_offline``."""
        out: list[Transition] = []
        seen: set[str] = set()
        for msg in live:
            if isinstance(msg, Event) and msg.kind in {"device_down", "device_up"}:
                out += self.liveness.reported(msg.device, msg.kind == "device_up", now)
                seen.discard(msg.device)
            elif msg.device not in seen:
                seen.add(msg.device)
                out += self.liveness.seen(msg.device, now)
        return out

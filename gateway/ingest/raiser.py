"""Alerts out of the ingest: alert changes → booked, stored, published, notified, evidenced.

:class:`AlertRaiser` is the one way an :class:`~gateway.ingest.alerts.AlertChange` becomes a
published alert, whoever found it (a batch's analytics, a tick, liveness, the gateway's own
``store_config`` check, an acknowledgement):

1. the :class:`~gateway.ingest.alerts.AlertBook` books it (a change that changes nothing is
   dropped; the book gives the alert its id and keeps it across restarts);
2. the booked alerts are stored as ``alert`` points in one spool commit;
3. each is published on its device's MQTT alert topic, counted in
   ``cw_alerts_published_total``, handed to ``notify`` (which only queues) and opens its
   evidence window (:mod:`gateway.evidence`).

A latched alert (``port_cut``, :mod:`gateway.ingest.portcut`) is resolved only by an
acknowledgement: :meth:`AlertRaiser.acknowledge` books the resolution at once and
:meth:`AlertRaiser.publish_acked` publishes it with the next tick. :meth:`AlertRaiser.replay`
re-spools the newest published changes at start-up. The caller owns the ordering and the
ingest lock (:class:`gateway.ingest.pipeline.IngestPipeline`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from chargewatch import topics
from chargewatch.messages import Alert, encode
from gateway.evidence import EvidenceRecorder
from gateway.ingest.alerts import AlertBook, AlertChange, AlertState, Severity
from gateway.ingest.eventtime import EventClock
from gateway.ingest.portcut import ack_resolution
from gateway.ingest.state import AlertRow, IngestState
from gateway.lineproto import line, ts_ms
from gateway.liveness import Transition
from gateway.metrics import Metrics

Publish = Callable[[str, bytes, bool], None]
Notify = Callable[[Sequence[Alert]], None]


class SpoolSink(Protocol):
    """The durable spool as the ingest sees it: ``append`` returns once committed."""

    async def append(self, lines: Sequence[str], meta: str = "") -> int: ...


class AlertRaiser:
    """Books alert changes and stores, publishes and notifies the alerts they make."""

    def __init__(
        self,
        *,
        site: str,
        spool: SpoolSink,
        state: IngestState,
        clock: EventClock,
        metrics: Metrics,
        publish: Publish,
        notify: Notify | None = None,
        evidence: EvidenceRecorder | None = None,
    ) -> None:
        self.site = site
        self.spool = spool
        self.state = state
        self.clock = clock
        self.metrics = metrics
        self.publish = publish
        self.notify = notify  # must not block: gateway.notify.Notifier.submit queues
        self.evidence = evidence
        self.book = AlertBook(state)
        self._acked: list[Alert] = []  # latched alerts resolved by an acknowledgement, to publish

    async def raise_changes(self, changes: Sequence[AlertChange]) -> None:
        """Book, store and publish alert changes."""
        await self._publish([a for a in map(self.book.apply, changes) if a is not None])

    async def publish_acked(self) -> None:
        """Publish the latched alerts acknowledgements resolved since the last call."""
        acked, self._acked = self._acked, []
        await self._publish(acked)

    async def _publish(self, alerts: list[Alert]) -> None:
        """Store, publish and notify booked alerts; open their evidence windows."""
        if not alerts:
            return
        await self.spool.append([alert_line(a, self.site) for a in alerts], "alert")
        for a in alerts:
            self.publish(topics.device_topic(a.device, topics.ALERT), encode(a), False)
        self.metrics.inc("cw_alerts_published_total", len(alerts))
        if self.notify is not None:
            self.notify(alerts)
        if self.evidence is not None:
            await self.evidence.seal_early(self.evidence.opened(alerts))

    def acknowledge(self, alert_id: str, user: str, now: float) -> AlertRow:
        """Acknowledge an alert (KeyError when unknown); a latched one (``port_cut``) is resolved
        by it: booked now, published by the next :meth:`publish_acked`."""
        row = self.book.acknowledge(alert_id, user, now)
        change = ack_resolution(row, user, self.clock.mark(row.device))
        if change is not None:
            alert = self.book.apply(change)
            if alert is not None:
                self._acked.append(alert)
            row = self.state.get_alert(alert_id) or row
        return row

    async def replay(self, limit: int = 1000) -> int:
        """Re-spool the points of the newest published alert changes at start-up; returns how many.

        Closes the window between booking an alert and spooling its point (a kill -9 there):
        the book keeps every change exactly as published, and the points carry the changes' own
        timestamps, so re-writing them is an overwrite and the stored history stays equal to
        the published one, state for state.
        """
        lines = [
            alert_line(
                Alert(
                    id=c.id,
                    device=c.device,
                    kind=c.kind,
                    severity=_severity(c.severity),
                    state=_state(c.state),
                    ts=c.ts,
                    port=c.port,
                    message=c.message,
                ),
                self.site,
            )
            for c in self.state.alert_changes(limit)
        ]
        if lines:
            await self.spool.append(lines, "alert_replay")
        return len(lines)


def offline_changes(transitions: Sequence[Transition]) -> list[AlertChange]:
    """``device_offline`` / ``agent_offline`` alert changes from liveness transitions.

    Going offline pages only when the transition says so (a silent device under a live agent,
    an agent's last will); coming back resolves whatever is open (a no-op when nothing is).
    """
    return [
        AlertChange(
            device=t.device,
            kind=t.kind,
            state="resolved" if t.online else "firing",
            severity="warning" if t.kind == "device_offline" else "critical",
            ts=t.ts,
            message=f"{t.kind.split('_')[0]} {'back online' if t.online else 'offline'} ({t.reason})",
        )
        for t in transitions
        if t.online or t.page
    ]


def _severity(text: str) -> Severity:
    if text == "info":
        return "info"
    return "warning" if text == "warning" else "critical"


def _state(text: str) -> AlertState:
    if text == "pending":
        return "pending"
    return "resolved" if text == "resolved" else "firing"


def alert_line(a: Alert, site: str) -> str:
    """The ``alert`` point of one alert state change."""
    tags = {"device": a.device, "kind": a.kind, "site": site}
    if a.port is not None:
        tags["port"] = str(a.port)
    fields: dict[str, str | float | None] = {"id": a.id, "state": a.state, "severity": a.severity}
    fields["message"] = a.message or None
    return line("alert", tags, fields, ts_ms(a.ts))

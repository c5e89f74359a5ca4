"""The ingest hot path: one received batch → validated, deduped, spooled, then acked and analysed.

Order per batch, which is what makes the guarantees hold:

1. validate each message against the schema and its device's profile, then build its points
   (rejects are dead-lettered with a reason, counted in ``cw_ingest_rejected_total{reason}``;
   the rest of the batch goes on — no single message can stop the batch or the gateway);
2. dedupe by (device, boot, seq) — duplicates are re-acked (the first ack may have been lost);
   a time-policy reject (``future_ts``, ``too_old``) is acked and its seq recorded too: it
   arrived (its dead letter keeps it), so it is never reported as a ``data_gap``;
3. **one durable spool commit** for all accepted lines of the batch; while its fsync runs in
   the spool's thread the event loop feeds liveness and analytics (CPU work that neither acks
   nor publishes, so it may overlap the commit);
4. turn alert changes into booked, stored and published alerts, then spool the ``session``
   points of the sessions the batch ended (priced, with the alerts during them);
5. save the dedupe marks (after the commits: a crash in between re-accepts a few messages whose
   points then overwrite themselves, since timestamps come from the source — never a loss);
6. queue acks (published by the gateway every ``ack_interval``). Published alerts are handed to
   ``notify`` (the gateway's notifier; it only queues).

Analytics are isolated per message (:mod:`gateway.ingest.analysis`): a culprit is
dead-lettered as ``analytics_error`` and the rest of the batch is analysed without it.

Stale data is data, not a page: a message whose source ``ts`` is more than
``TimePolicy.stale_after`` older than its arrival is stored and acked like any other, counted
in ``cw_ingest_stale_total`` and marked by one ``event`` point ``kind=stale_data`` per device and
batch (fields ``boot``, ``lo``/``hi`` seqs, ``count``, ``lag_s``), but it never reaches the
analytics or liveness, so it never opens, re-fires or resolves an alert.

Event time per device (:class:`gateway.ingest.eventtime.EventClock`) is the same rule seen
from the stream: each batch is analysed in source-time order, and a message older than what the
analytics already consumed for its device (a backlog draining behind the live stream, a
resend) is stored but never analysed either. Stale and late data are one decision —
``EventClock.live`` — of what analytics and liveness may act on.

Every accepted message (live, late or stale) also goes to the evidence recorder
(:mod:`gateway.evidence`), which opens a window at each new alert and seals it in ``tick``;
``port_cut`` alerts (:mod:`gateway.ingest.portcut`) come from the accepted interlock events and
the live fault codes, and are resolved only by :meth:`IngestPipeline.acknowledge`.

A spool that cannot commit raises :class:`SpoolCommitError` and stops the gateway: acking
anything we could not store would lose it, and the persisted marks are still consistent.

:meth:`IngestPipeline.tick` is the periodic half, under the same lock as a batch: the analytics
and liveness timers, the latched alerts acknowledged since the last tick, evidence sealing, and
the seq gaps given up on — one ``event`` point ``kind=data_gap`` each — then the marks.

Layout: this module owns the order, the lock, the checks of step 1–2 and the ``stale_data`` and
``data_gap`` points; the analyse stage is :class:`gateway.ingest.analysis.BatchAnalysis` and
step 4's alerts out (book, spool, MQTT, notify, evidence; acknowledgements and start-up replay)
are :class:`gateway.ingest.raiser.AlertRaiser`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chargewatch import topics
from chargewatch.errors import ChargeWatchError, ConfigError, MessageError
from chargewatch.logs import describe, kv
from chargewatch.messages import DeviceMessage, Status, Telemetry, decode_message
from chargewatch.profiles import DeviceProfile, find_profile
from gateway.evidence import EvidenceRecorder
from gateway.ingest.acks import AckBatcher
from gateway.ingest.alerts import AlertChange, Analytics
from gateway.ingest.analysis import BatchAnalysis
from gateway.ingest.dedupe import Gap, SeqTracker, Verdict
from gateway.ingest.eventtime import EventClock
from gateway.ingest.limits import DeadItem
from gateway.ingest.portcut import PortCuts
from gateway.ingest.raiser import AlertRaiser, Notify, Publish, SpoolSink, offline_changes
from gateway.ingest.state import AlertRow, IngestState
from gateway.ingest.validate import RejectedError, TimePolicy, Validator
from gateway.lineproto import Resolution, event_lines, line, resolution, telemetry_lines, ts_ms
from gateway.liveness import Liveness
from gateway.metrics import Metrics
from gateway.sessions import SessionLog

log = logging.getLogger(__name__)

_AGENT_PREFIX = topics.PREFIX + "/agent/"


class SpoolCommitError(ChargeWatchError):
    """The spool refused a commit; nothing of the batch was acknowledged."""


@dataclass
class _Batch:
    lines: list[str] = field(default_factory=list)
    accepted: list[DeviceMessage] = field(default_factory=list)
    dead: list[DeadItem] = field(default_factory=list)
    ack_only: list[DeviceMessage] = field(default_factory=list)
    statuses: list[tuple[str, Status]] = field(default_factory=list)
    #: accepted messages that are stale on arrival: stored, never analysed
    stale: list[DeviceMessage] = field(default_factory=list)


class IngestPipeline:
    """Stateful ingest; ``handle`` is called by the gateway with each received batch."""

    def __init__(
        self,
        *,
        site: str,
        spool: SpoolSink,
        state: IngestState,
        tracker: SeqTracker,
        analytics: Analytics,
        liveness: Liveness,
        metrics: Metrics,
        policy: TimePolicy,
        publish: Publish,
        profile_dirs: Sequence[Path] = (),
        sessions: SessionLog | None = None,
        notify: Notify | None = None,
        watermarks: Mapping[str, float] | None = None,
        drain_max_s: float = 0.0,
        profiles: Mapping[str, DeviceProfile] | None = None,
        evidence: EvidenceRecorder | None = None,
    ) -> None:
        self.site = site
        self.sessions = sessions
        self.spool = spool
        self.state = state
        self.tracker = tracker
        self.analytics = analytics
        self.liveness = liveness
        self.metrics = metrics
        self.policy = policy
        self.validator = Validator(policy, profile_dirs)
        self.cuts = PortCuts(profiles or {}, lambda key: state.get_alert(f"{key}.{state.alert_seq(key)}"))
        self.evidence = evidence
        self.clock = EventClock(watermarks)
        self.alerts = AlertRaiser(
            site=site,
            spool=spool,
            state=state,
            clock=self.clock,
            metrics=metrics,
            publish=publish,
            notify=notify,
            evidence=evidence,
        )
        self.analysis = BatchAnalysis(
            analytics=analytics, liveness=liveness, metrics=metrics, cuts=self.cuts, clock=self.clock
        )
        self.drain_max_s = drain_max_s
        self.acks = AckBatcher()
        self.last = self.analysis.last  # the latest telemetry per device (the HTTP API's devices)
        self._profile_dirs = tuple(profile_dirs)
        self._res: dict[str, Resolution | None] = {}
        self._lock = asyncio.Lock()

    def _resolution(self, model: str) -> Resolution | None:
        """The stored resolution of ``model``'s points (cached; None without a profile)."""
        if model not in self._res:
            try:
                self._res[model] = resolution(find_profile(model, self._profile_dirs))
            except ConfigError:
                self._res[model] = None
        return self._res[model]

    def _classify(self, items: Sequence[tuple[str, bytes, float]], b: _Batch) -> None:
        for topic, payload, received in items:
            try:
                if topic.startswith(_AGENT_PREFIX):
                    self._status(topic, payload, received, b)
                else:
                    self._device(topic, payload, received, b)
            except Exception as exc:  # a bug this message found: it must not stop the batch
                log.error(kv("ingest_error", topic=topic[:200], error=describe(exc)))  # noqa: TRY400 -- one line
                self._reject((received, topic, "internal_error", describe(exc), payload), b)
        if b.stale:
            b.lines += self._stale_lines(b.stale, latest_receipt(items))

    def _device(self, topic: str, payload: bytes, received: float, b: _Batch) -> None:
        try:
            msg = self.validator.check(topic, payload, received)
        except RejectedError as exc:
            self._refused(exc, (received, topic, exc.reason, exc.detail, payload), b)
            return
        try:
            if isinstance(msg, Telemetry):
                shape = self.validator.shape(msg.model)
                kind = "pile" if shape is None else shape.kind
                lines = telemetry_lines(msg, self.site, kind, self._resolution(msg.model))
            else:
                lines = event_lines(msg, self.site)
        except Exception as exc:  # validated input should always encode; never stop the batch
            error = describe(exc)
            log.error(kv("line_protocol_error", device=msg.device, seq=msg.seq, error=error))  # noqa: TRY400
            self._reject((received, topic, "line_protocol", error, payload), b)
            return
        verdict = self.tracker.observe(msg.device, msg.boot, msg.seq, received)
        if verdict is Verdict.DUPLICATE:
            self._duplicate(msg, topic, payload, received, b)
            return
        if verdict is Verdict.LATE:
            self.metrics.inc("cw_ingest_late_total")
        b.lines += lines
        b.accepted.append(msg)
        if received - msg.ts > self.policy.stale_after:
            b.stale.append(msg)

    def _refused(self, exc: RejectedError, item: DeadItem, b: _Batch) -> None:
        """Dead-letter a rejected message. One its sender may delete (a time-policy refusal of a
        well-formed message, kept as a dead letter) is acked and its seq recorded: it arrived,
        so it is no ``data_gap`` once later seqs are stored, and its other copies (a resend,
        the discovery session's) are duplicates."""
        msg = exc.msg if exc.ackable else None
        if msg is None:
            self._reject(item, b)
            return
        if self.tracker.observe(msg.device, msg.boot, msg.seq, item[0]) is Verdict.DUPLICATE:
            self._duplicate(msg, item[1], item[4], item[0], b)
            return
        self._reject(item, b)
        b.ack_only.append(msg)

    def _duplicate(self, msg: DeviceMessage, topic: str, payload: bytes, received: float, b: _Batch) -> None:
        self.metrics.inc("cw_ingest_duplicates_total")
        b.dead.append((received, topic, "duplicate", f"boot {msg.boot} seq {msg.seq}", payload))
        b.ack_only.append(msg)

    def _stale_lines(self, stale: list[DeviceMessage], now: float) -> list[str]:
        """One ``stale_data`` event point per (device, boot) of the batch's stale messages."""
        self.metrics.inc("cw_ingest_stale_total", len(stale))
        groups: dict[tuple[str, int], list[DeviceMessage]] = {}
        for msg in stale:
            groups.setdefault((msg.device, msg.boot), []).append(msg)
        lines = []
        for (device, boot), msgs in groups.items():
            seqs = [m.seq for m in msgs]
            newest = max(m.ts for m in msgs)
            lag = now - min(m.ts for m in msgs)
            log.info(kv("stale_data", device=device, boot=boot, count=len(msgs), lag_s=round(lag)))
            tags = {"device": device, "kind": "stale_data", "site": self.site}
            fields = {
                "boot": float(boot),
                "lo": float(min(seqs)),
                "hi": float(max(seqs)),
                "count": float(len(msgs)),
                "lag_s": float(lag),
            }
            lines.append(line("event", tags, fields, ts_ms(newest)))
        return lines

    def _status(self, topic: str, payload: bytes, received: float, b: _Batch) -> None:
        try:
            agent = topics.parse_agent_topic(topic)
            msg = decode_message(payload)
        except (ValueError, MessageError) as exc:
            reason = exc.reason if isinstance(exc, MessageError) else "bad_topic"
            self._reject((received, topic, reason, str(exc), payload), b)
            return
        if not isinstance(msg, Status) or msg.agent != agent:
            self._reject((received, topic, "identity", f"not a status of {agent!r}", payload), b)
            return
        b.statuses.append((agent, msg))

    def _reject(self, item: DeadItem, b: _Batch) -> None:
        self.metrics.inc("cw_ingest_rejected_total", reason=item[2])
        b.dead.append(item)

    async def handle(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        """Process one received batch end to end (see the module doc for the order)."""
        async with self._lock:
            await self._handle(items)

    async def _handle(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        b = _Batch()
        self._classify(items, b)
        if self.evidence is not None:
            self.evidence.add(b.accepted)  # late and stale data fill evidence too
        commit = asyncio.ensure_future(self._commit(b.lines)) if b.lines else None
        try:
            if commit is not None:
                await asyncio.sleep(0)  # let the commit reach the spool's thread before analysing
            now = latest_receipt(items)
            changes, transitions = self.analysis.batch(b.accepted, b.stale, b.statuses, b.dead, now)
        finally:
            if commit is not None:
                await commit
        await self.raise_alerts(changes + offline_changes(transitions))
        await self.spool_sessions()  # after the alerts: a session lists those its last batch raised
        self.state.save_marks(self.tracker.take_dirty())
        self.state.dead_letter(b.dead)
        add_ack = self.acks.add
        for msg in b.ack_only:
            add_ack(msg.device, msg.boot, msg.seq)
        for msg in b.accepted:
            add_ack(msg.device, msg.boot, msg.seq)

    async def spool_sessions(self) -> None:
        """Sessions the batch ended, as ``session`` points, committed before the batch is acked."""
        lines = self.sessions.drain() if self.sessions is not None else []
        if lines:
            await self._commit(lines, "session")
            self.metrics.inc("cw_sessions_total", len(lines))

    async def _commit(self, lines: list[str], meta: str = "ingest") -> None:
        try:
            await self.spool.append(lines, meta)
        except ChargeWatchError as exc:
            raise SpoolCommitError(f"spool commit of {len(lines)} lines failed: {exc}") from exc

    async def raise_alerts(self, changes: Sequence[AlertChange]) -> None:
        """Book, store and publish alert changes (:class:`AlertRaiser`); the caller holds the lock."""
        await self.alerts.raise_changes(changes)

    def acknowledge(self, alert_id: str, user: str, now: float) -> AlertRow:
        """Acknowledge an alert (KeyError when unknown); a latched one (``port_cut``) is resolved
        by it: booked now, published with the next tick."""
        return self.alerts.acknowledge(alert_id, user, now)

    async def raise_gateway_alerts(self, changes: Sequence[AlertChange]) -> None:
        """:meth:`raise_alerts` for conditions found outside a batch; holds the batch lock."""
        async with self._lock:
            await self.raise_alerts(changes)

    async def replay_alerts(self, limit: int = 1000) -> int:
        """Re-spool the newest published alert changes at start-up (:meth:`AlertRaiser.replay`)."""
        return await self.alerts.replay(limit)

    async def tick(self, now: float) -> None:
        """Periodic work: silent devices, analytics timers, seq gaps.

        Holds the same lock as :meth:`handle`: marks must never be saved between a batch's
        dedupe and its spool commit.
        """
        async with self._lock:
            await self._tick(now)

    async def _tick(self, now: float) -> None:
        await self.raise_alerts(self.analysis.tick(now))
        await self.alerts.publish_acked()
        if self.evidence is not None:
            await self.evidence.seal_due(now)
        gaps = self.tracker.due_gaps(now, self.liveness.draining, self.drain_max_s)
        if gaps:
            await self.spool.append(self._gap_lines(gaps, now), "data_gap")
        self.state.save_marks(self.tracker.take_dirty())

    def _gap_lines(self, gaps: Sequence[Gap], now: float) -> list[str]:
        """One ``data_gap`` event point per seq gap given up on (logged and counted)."""
        lines = []
        for g in gaps:
            log.warning(kv("data_gap", device=g.device, boot=g.boot, lo=g.lo, hi=g.hi, size=g.size))
            self.metrics.inc("cw_ingest_gaps_total")
            self.metrics.inc("cw_ingest_gap_seqs_total", g.size)
            tags = {"device": g.device, "kind": "data_gap", "site": self.site}
            fields = {"boot": float(g.boot), "lo": float(g.lo), "hi": float(g.hi), "size": float(g.size)}
            lines.append(line("event", tags, fields, ts_ms(now)))
        return lines


def latest_receipt(items: Sequence[tuple[str, bytes, float]]) -> float:
    """When the newest item of a batch arrived (0 for none). Not the last item's time: a batch
    may end with copies held back from earlier (a discovery copy the trusted session never
    delivered)."""
    return max((received for _, _, received in items), default=0.0)

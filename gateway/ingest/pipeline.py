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

Analytics are isolated per message: when the batch call raises, the batch is re-run message by
message and the culprit is dead-lettered as ``analytics_error`` (its points are stored and it
is acked: data is data) with one log line naming the exception. This analyses every message
exactly once when the batch call raises before it changes any state, which
``analytics.Pipeline.process_batch`` does by checking its inputs first; a failure deeper in a
batch may have analysed its first messages already, and they are analysed again.

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
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from chargewatch import topics
from chargewatch.errors import ChargeWatchError, ConfigError, MessageError
from chargewatch.logs import kv
from chargewatch.messages import Alert, DeviceMessage, Event, Status, Telemetry, decode_message, encode
from chargewatch.profiles import DeviceProfile, find_profile
from gateway.evidence import EvidenceRecorder
from gateway.ingest.acks import AckBatcher
from gateway.ingest.alerts import AlertBook, AlertChange, AlertState, Analytics, Severity
from gateway.ingest.dedupe import SeqTracker, Verdict
from gateway.ingest.eventtime import EventClock
from gateway.ingest.portcut import PortCuts, ack_resolution
from gateway.ingest.state import AlertRow, IngestState
from gateway.ingest.validate import RejectedError, TimePolicy, Validator
from gateway.lineproto import Resolution, event_lines, line, resolution, telemetry_lines, ts_ms
from gateway.liveness import Liveness, Transition
from gateway.metrics import Metrics
from gateway.sessions import SessionLog

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, bool], None]
Notify = Callable[[Sequence[Alert]], None]
DeadItem = tuple[float, str, str, str, bytes]
M = TypeVar("M", Telemetry, Event)
_AGENT_PREFIX = topics.PREFIX + "/agent/"


class SpoolSink(Protocol):
    """The durable spool as the pipeline sees it: ``append`` returns once committed."""

    async def append(self, lines: Sequence[str], meta: str = "") -> int: ...


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
        self.publish = publish
        self.notify = notify  # must not block: gateway.notify.Notifier.submit queues
        self.book = AlertBook(state)
        self.cuts = PortCuts(profiles or {}, lambda key: state.get_alert(f"{key}.{state.alert_seq(key)}"))
        self.evidence = evidence
        self._acked: list[Alert] = []  # latched alerts resolved by an acknowledgement, to publish
        self.clock = EventClock(watermarks)
        self.drain_max_s = drain_max_s
        self.acks = AckBatcher()
        self.last: dict[str, Telemetry] = {}
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
            b.lines += self._stale_lines(b.stale, items[-1][2])

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
            changes, transitions = self._analyse(b, items[-1][2] if items else 0.0)
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

    def _analyse(self, b: _Batch, now: float) -> tuple[list[AlertChange], list[Transition]]:
        """Analytics, liveness and metrics of the accepted messages; runs while the batch's
        commit is in flight (nothing here acks or publishes, so durability is unaffected).
        Stale and late messages update the latest values but reach neither analytics nor
        liveness (:meth:`EventClock.live`)."""
        changes: list[AlertChange] = []
        transitions: list[Transition] = []
        samples = 0
        last = self.last
        run: list[Telemetry] = []  # consecutive telemetry, analysed in one call
        for msg in b.accepted:
            if isinstance(msg, Telemetry):
                prev = last.get(msg.device)
                if prev is None or msg.ts >= prev.ts:
                    last[msg.device] = msg
                samples += max(map(len, msg.ports.values()), default=0)
        late_before = self.clock.late_total
        live = self.clock.live(b.accepted, skip={id(m) for m in b.stale})
        changes += self.cuts.observe(b.accepted, live)
        for msg in live:
            if isinstance(msg, Telemetry):
                run.append(msg)
            else:
                if run:
                    changes += self._run(run, b, now)
                    run = []
                changes += self._guarded(self.analytics.process_event, msg, b, now)
        if run:
            changes += self._run(run, b, now)
        if self.clock.late_total != late_before:
            self.metrics.inc("cw_analytics_late_total", self.clock.late_total - late_before)
        transitions += self._liveness(live, now)
        for agent, st in b.statuses:
            transitions += self.liveness.status(agent, st, now)
        if b.accepted:
            self.metrics.inc("cw_ingest_messages_total", len(b.accepted))
            self.metrics.inc("cw_ingest_port_samples_total", samples)
            self.metrics.set("cw_ingest_lag_seconds", now - b.accepted[-1].ts)
        return changes, transitions

    def _run(self, run: list[Telemetry], b: _Batch, now: float) -> list[AlertChange]:
        """The changes of a run of telemetry; message by message when the batch call fails."""
        try:
            return list(self.analytics.process_batch(run))
        except Exception as exc:  # isolate the culprit below; the gateway goes on
            log.warning(kv("analytics_batch_failed", messages=len(run), error=describe(exc)))
        changes: list[AlertChange] = []
        for msg in run:
            changes += self._guarded(self.analytics.process_telemetry, msg, b, now)
        return changes

    def _guarded(
        self, fn: Callable[[M], Sequence[AlertChange]], msg: M, b: _Batch, now: float
    ) -> list[AlertChange]:
        """``fn(msg)``; an exception dead-letters ``msg`` as ``analytics_error`` (it stays stored)."""
        try:
            return list(fn(msg))
        except Exception as exc:  # one message must not stop analytics for the others
            error = describe(exc)
            log.error(kv("analytics_error", device=msg.device, seq=msg.seq, error=error))  # noqa: TRY400
            self.metrics.inc("cw_ingest_analytics_errors_total")
            leaf = topics.TELEMETRY if isinstance(msg, Telemetry) else topics.EVENT
            b.dead.append((now, topics.device_topic(msg.device, leaf), "analytics_error", error, encode(msg)))
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

    async def raise_alerts(self, changes: Sequence[AlertChange]) -> None:
        """Book, store and publish alert changes (also used for liveness and analytics ticks)."""
        await self._publish([a for a in map(self.book.apply, changes) if a is not None])

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
        by it: booked now, published with the next tick."""
        row = self.book.acknowledge(alert_id, user, now)
        change = ack_resolution(row, user, self.clock.mark(row.device))
        if change is not None:
            alert = self.book.apply(change)
            if alert is not None:
                self._acked.append(alert)
            row = self.state.get_alert(alert_id) or row
        return row

    async def raise_gateway_alerts(self, changes: Sequence[AlertChange]) -> None:
        """:meth:`raise_alerts` for conditions found outside a batch; holds the batch lock."""
        async with self._lock:
            await self.raise_alerts(changes)

    async def replay_alerts(self, limit: int = 1000) -> int:
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

    async def tick(self, now: float) -> None:
        """Periodic work: silent devices, analytics timers, seq gaps.

        Holds the same lock as :meth:`handle`: marks must never be saved between a batch's
        dedupe and its spool commit.
        """
        async with self._lock:
            await self._tick(now)

    async def _tick(self, now: float) -> None:
        try:
            changes = list(self.analytics.tick(now))
        except Exception as exc:  # liveness, gaps and the next ticks go on
            log.error(kv("analytics_tick_error", error=describe(exc)))  # noqa: TRY400 -- one line
            self.metrics.inc("cw_ingest_analytics_errors_total")
            changes = []
        changes += offline_changes(self.liveness.tick(now))
        await self.raise_alerts(changes)
        acked, self._acked = self._acked, []
        await self._publish(acked)
        if self.evidence is not None:
            await self.evidence.seal_due(now)
        gaps = self.tracker.due_gaps(now, self.liveness.draining, self.drain_max_s)
        if gaps:
            lines = []
            for g in gaps:
                log.warning(kv("data_gap", device=g.device, boot=g.boot, lo=g.lo, hi=g.hi, size=g.size))
                self.metrics.inc("cw_ingest_gaps_total")
                self.metrics.inc("cw_ingest_gap_seqs_total", g.size)
                tags = {"device": g.device, "kind": "data_gap", "site": self.site}
                fields = {"boot": float(g.boot), "lo": float(g.lo), "hi": float(g.hi), "size": float(g.size)}
                lines.append(line("event", tags, fields, ts_ms(now)))
            await self.spool.append(lines, "data_gap")
        self.state.save_marks(self.tracker.take_dirty())


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


def describe(exc: BaseException) -> str:
    """``Type: message at file:line`` of where ``exc`` was raised (one log field)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {str(exc)[:300]}{where}"


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

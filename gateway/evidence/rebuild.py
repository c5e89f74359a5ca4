"""Evidence windows a crash left unsealed, rebuilt from the time-series store at start-up.

A kill -9 loses the windows the recorder held open; their raw points are in the store (or in
the spool, which the gateway drains into the store on start). On start-up, after the alert
book is restored and before any traffic is handled, :meth:`EvidenceRebuild.plan` takes the
alerts that first changed within ``evidence.rebuild_lookback_s`` (newest
``evidence.rebuild_max`` of them) and have neither a sealed document nor an open window, and
opens their windows again in the recorder, marked unseeded: live messages fill them, but they
are not sealed (not by the time-out, the end of the window nor a shutdown) until the store read
is done. :meth:`EvidenceRebuild.run` (a gateway task) then flushes the spool, reads each window
``[alert − before_s, settled + after_s]`` back (:func:`gateway.evidence.fromstore.read_messages`)
and

* seals it at once with ``sealed_reason: "rebuilt_from_store"`` when its end (source time) plus
  ``grace_s`` has passed the gateway's clock (outcome ``sealed``);
* otherwise leaves it open, seeded, to be sealed like any live window (its time-out counted from
  now; outcome ``reopened``).

Either way its document carries ``rebuilt``: what the store could not give back (see
:mod:`gateway.evidence.fromstore`). One ``evidence_rebuilt`` log line per window, counted in
``cw_evidence_rebuilt_total{outcome}`` (``failed`` too). A store that fails is retried with the shared backoff
(writing the spool out: for as long as the gateway runs; a window's read: 10 minutes, then
it is dropped with an ``evidence_rebuild_failed`` line); a window still unseeded at shutdown
stays without a document and is planned again by the next start. Idempotent: a sealed
document is never rewritten (the evidence file refuses it), and an alert with one is never
planned.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from chargewatch.logs import kv
from chargewatch.profiles import DeviceProfile
from chargewatch.retry import Backoff, retry_async
from gateway.evidence.fromstore import StoreRead, read_messages
from gateway.evidence.recorder import EvidenceRecorder
from gateway.evidence.window import Window
from gateway.metrics import Metrics
from gateway.store.base import TimeSeriesStore
from gateway.store.errors import StoreError

log = logging.getLogger(__name__)

#: the sealed_reason of a window sealed from the store after a crash
REBUILT = "rebuilt_from_store"
#: writing the spool out is retried for as long as the gateway runs (the spool keeps the data)
RETRY = Backoff(initial=0.5, cap=30.0, on=(StoreError,))
#: a window's store read is retried for 10 minutes, then left to the next start
READ_RETRY = Backoff(initial=0.5, cap=30.0, timeout=600.0, on=(StoreError,))


@dataclass(frozen=True, slots=True)
class Fired:
    """An alert of the book whose evidence window should exist: its first change
    (``alert_ts``) and, unless still pending, the change that settled it."""

    alert_id: str
    device: str
    port: int | None
    kind: str
    alert_ts: float
    settled_ts: float | None


class EvidenceRebuild:
    """Plan at start-up, then :meth:`run` once as a task."""

    def __init__(
        self,
        recorder: EvidenceRecorder,
        store: TimeSeriesStore,
        profiles: Mapping[str, DeviceProfile],
        *,
        flush: Callable[[], Awaitable[None]],
        metrics: Metrics,
        clock: Callable[[], float],
        retry: Backoff = RETRY,
        read_retry: Backoff = READ_RETRY,
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.profiles = profiles
        self.flush = flush
        self.metrics = metrics
        self.clock = clock
        self.retry = retry
        self.read_retry = read_retry
        self.planned: list[Window] = []

    def plan(self, fired: Sequence[Fired]) -> list[Window]:
        """Open an unseeded window for every alert of ``fired`` without evidence; the windows."""
        rec = self.recorder
        for f in fired:
            if f.alert_id in rec.open or rec.store.has(f.alert_id):
                continue
            w = rec.window(
                f.alert_id,
                f.device,
                f.port,
                f.kind,
                alert_ts=f.alert_ts,
                settled_ts=f.settled_ts,
                seeded=False,
            )
            rec.adopt(w)  # an unseeded window pushed out by max_open is dropped, not sealed
            self.planned.append(w)
        if self.planned:
            log.info(kv("evidence_rebuild_planned", windows=len(self.planned), store=self.store.name))
        return list(self.planned)

    async def run(self) -> int:
        """Flush the spool, then seed (and seal, when complete) every planned window; how many."""
        if not self.planned:
            return 0
        await retry_async(self.flush, policy=self.retry)
        done = 0
        for w in self.planned:
            if self.recorder.open.get(w.alert_id) is not w:  # pushed out by max_open meanwhile
                continue
            end = min(w.end, self.clock())  # nothing newer is stored yet
            try:
                read = await retry_async(
                    partial(read_messages, self.store, self.profiles, w, end), policy=self.read_retry
                )
            except Exception as exc:  # this window only: ingest and the other windows go on
                self.recorder.drop(w.alert_id)
                self.metrics.inc("cw_evidence_rebuilt_total", outcome="failed")
                log.error(  # noqa: TRY400 -- one line; the error names the store and the query
                    kv(
                        "evidence_rebuild_failed",
                        alert=w.alert_id,
                        error=exc,
                        fix="planned again at the next start",
                    )
                )
                continue
            done += await self._seed(w, read)
        return done

    async def _seed(self, w: Window, read: StoreRead) -> int:
        if self.recorder.open.get(w.alert_id) is not w:
            return 0
        for msg in read.messages:
            w.add(msg)
        w.rebuilt = read.rebuilt
        w.seeded = True
        now = self.clock()
        if w.end + self.recorder.grace_s <= now:  # late data had its grace, as for a live window
            if not await self.recorder.seal_now(w.alert_id, REBUILT):
                return 0
            outcome = "sealed"
        else:
            w.opened_at = now  # its time-out runs from now, as for a window opened now
            outcome = "reopened"
        self.metrics.inc("cw_evidence_rebuilt_total", outcome=outcome)
        log.info(
            kv(
                "evidence_rebuilt",
                alert=w.alert_id,
                outcome=outcome,
                samples=len(w.samples),
                from_store=len(read.messages),
                seqs_missing=read.rebuilt["seqs_missing"],
                not_stored=len(read.rebuilt["not_stored"]),
                store=self.store.name,
            )
        )
        return 1

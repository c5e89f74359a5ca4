"""The black-box recorder: raw samples before and after every alert, sealed once complete.

The ingest pipeline hands it every accepted message (live, late and stale alike:
data that arrives behind the live stream still fills evidence) and every alert it publishes.

* Per device it keeps the last ``before_s`` of source time (at most ``max_samples``
  messages) so that a new alert's window starts with what came before it.
* The first change of an alert id opens its window from ``ts - before_s``, seeded from that
  history; it ends ``after_s`` after the alert fired (or resolved while pending: see
  :mod:`gateway.evidence.window`); later messages of the device inside it are added as they come.
* A window is sealed — its document checksummed and written once to the
  :class:`~gateway.evidence.store.EvidenceStore` — when the device's source time has passed
  its end by ``grace_s`` (``after_window``), when ``timeout_s`` of gateway time has passed since
  it opened (``timeout``: the device went quiet), when more than ``max_open`` windows are
  open (the oldest, ``capacity``), or when the gateway stops (``shutdown``).

Memory is bounded: history per device by ``max_samples``, open windows by ``max_open`` (at most
one per alert opened in the last ``timeout_s``), samples per window by ``max_samples`` (more are
counted in the document's ``dropped``).

A kill -9 loses the windows not yet sealed, but not their samples (the spool and the time-series
store hold them): at the next start :mod:`gateway.evidence.rebuild` opens those windows again
through :meth:`EvidenceRecorder.adopt`, *unseeded* — filled by live messages but never sealed
(not by ``due``, ``max_open`` nor shutdown) until the store has been read — and then seals them
as ``rebuilt_from_store`` (:meth:`EvidenceRecorder.seal_now`), or leaves them open when their end
is still ahead.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from chargewatch.logs import kv
from chargewatch.messages import Alert, DeviceMessage
from chargewatch.profiles import DeviceProfile
from gateway.evidence.store import EvidenceError, EvidenceStore
from gateway.evidence.window import Window, canonical, document

log = logging.getLogger(__name__)


class EvidenceRecorder:
    """``async with EvidenceRecorder(...) as rec:`` — sealing what is open on the way out."""

    def __init__(
        self,
        store: EvidenceStore,
        profiles: Mapping[str, DeviceProfile],
        *,
        before_s: float,
        after_s: float,
        grace_s: float,
        timeout_s: float,
        max_samples: int,
        max_open: int,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.profiles = profiles
        self.before_s = before_s
        self.after_s = after_s
        self.grace_s = grace_s
        self.timeout_s = timeout_s
        self.max_samples = max_samples
        self.max_open = max_open
        self.clock = clock
        self.history: dict[str, deque[DeviceMessage]] = {}
        self.newest: dict[str, float] = {}  # per device: newest source time accepted
        self.open: dict[str, Window] = {}  # alert id → window, oldest first
        self._by_device: dict[str, set[str]] = {}
        self._writes: set[asyncio.Future[int]] = set()  # seals running in worker threads
        self.sealed = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._writes:  # a tick cancelled mid-seal: its thread still writes; let it finish
                await asyncio.gather(*self._writes, return_exceptions=True)
            unseeded = [i for i, w in self.open.items() if not w.seeded]
            if unseeded:  # no document yet: the next start rebuilds them from the store
                log.warning(kv("evidence_rebuild_deferred", windows=len(unseeded), first=unseeded[0]))
            self._write([self._pop(i) for i, w in list(self.open.items()) if w.seeded], "shutdown")
        finally:
            self.store.close()

    # --- input ---------------------------------------------------------------------------------
    def add(self, msgs: Iterable[DeviceMessage]) -> None:
        """Accepted messages of one batch (any order; duplicates were dropped by dedupe)."""
        history, newest, by_device, before = self.history, self.newest, self._by_device, self.before_s
        for msg in msgs:
            device, ts = msg.device, msg.ts
            ring = history.get(device)
            if ring is None:
                ring = history[device] = deque(maxlen=self.max_samples)
            ring.append(msg)
            top = newest.get(device)
            if top is None or ts > top:
                newest[device] = top = ts
            horizon = top - before
            while ring and ring[0].ts < horizon:
                ring.popleft()
            if by_device and device in by_device:
                for alert_id in by_device[device]:
                    self.open[alert_id].add(msg)

    def opened(self, alerts: Sequence[Alert]) -> list[Window]:
        """Open a window for each alert id seen for the first time; the windows it had to seal
        early to stay within ``max_open`` (write them with :meth:`write`)."""
        early: list[Window] = []
        for a in alerts:
            w = self.open.get(a.id)
            if w is not None:
                if a.state != "pending":
                    w.settle(a.ts)
                continue
            if a.state == "resolved" or self.store.has(a.id):
                continue
            settled = None if a.state == "pending" else a.ts
            early += self.adopt(
                self.window(a.id, a.device, a.port, a.kind, alert_ts=a.ts, settled_ts=settled)
            )
        return early

    def window(
        self,
        alert_id: str,
        device: str,
        port: int | None,
        kind: str,
        *,
        alert_ts: float,
        settled_ts: float | None,
        seeded: bool = True,
    ) -> Window:
        """A new window of this recorder's span and size for an alert first seen at ``alert_ts``."""
        return Window(
            alert_id=alert_id,
            device=device,
            port=port,
            kind=kind,
            alert_ts=alert_ts,
            before_s=self.before_s,
            after_s=self.after_s,
            opened_at=self.clock(),
            max_samples=self.max_samples,
            settled_ts=settled_ts,
            seeded=seeded,
        )

    def adopt(self, w: Window) -> list[Window]:
        """Keep ``w`` open, seeded from the device's history; the windows pushed out by
        ``max_open`` (to seal). An unseeded one pushed out is dropped instead: it has no
        document yet, and the next start rebuilds it."""
        for msg in self.history.get(w.device, ()):
            w.add(msg)
        self.open[w.alert_id] = w
        self._by_device.setdefault(w.device, set()).add(w.alert_id)
        early: list[Window] = []
        while len(self.open) > self.max_open:
            oldest = self._pop(next(iter(self.open)))
            if oldest.seeded:
                early.append(oldest)
            else:
                log.warning(kv("evidence_rebuild_deferred", alert=oldest.alert_id, reason="capacity"))
        return early

    # --- sealing -------------------------------------------------------------------------------
    def due(self, now: float) -> list[tuple[Window, str]]:
        """Windows ready to seal at gateway time ``now``, with the reason; removed from open."""
        out: list[tuple[Window, str]] = []
        for alert_id, w in list(self.open.items()):
            if not w.seeded:  # a rebuilt window waits for its store read (gateway.evidence.rebuild)
                continue
            if self.newest.get(w.device, float("-inf")) >= w.end + self.grace_s:
                out.append((self._pop(alert_id), "after_window"))
            elif now - w.opened_at >= self.timeout_s:
                out.append((self._pop(alert_id), "timeout"))
        return out

    def drop(self, alert_id: str) -> None:
        """Forget the open window of ``alert_id`` without sealing it (a rebuild that failed)."""
        if alert_id in self.open:
            self._pop(alert_id)

    def _pop(self, alert_id: str) -> Window:
        w = self.open.pop(alert_id)
        ids = self._by_device.get(w.device)
        if ids is not None:
            ids.discard(alert_id)
            if not ids:
                del self._by_device[w.device]
        return w

    def prepare(self, windows: Iterable[Window], reason: str) -> list[tuple[dict[str, Any], bytes]]:
        """Documents and canonical bytes of ``windows`` (CPU work: on the event loop)."""
        sealed_at = self.clock()
        out = []
        for w in windows:
            doc = document(w, self.profiles, sealed_at=sealed_at, sealed_reason=reason)
            out.append((doc, canonical(doc)))
        return out

    def write(self, prepared: Sequence[tuple[dict[str, Any], bytes]]) -> int:
        """Seal prepared documents (blocking: call from a worker thread); how many. A refused one
        is logged."""
        done = 0
        for doc, body in prepared:
            try:
                digest = self.store.seal(doc, body, doc["sealed_at"])
            except EvidenceError as exc:
                log.error(kv("evidence_not_sealed", alert=doc["alert_id"], error=exc))  # noqa: TRY400
                continue
            self.sealed += 1
            done += 1
            log.info(
                kv(
                    "evidence_sealed",
                    alert=doc["alert_id"],
                    reason=doc["sealed_reason"],
                    samples=doc["samples"],
                    dropped=doc["dropped"],
                    sha256=digest[:16],
                )
            )
        return done

    def _write(self, windows: Sequence[Window], reason: str) -> None:
        self.write(self.prepare(windows, reason))

    async def seal_due(self, now: float) -> int:
        """Seal every window due at ``now``; how many."""
        due = self.due(now)
        prepared: list[tuple[dict[str, Any], bytes]] = []
        for reason in ("after_window", "timeout"):
            prepared += self.prepare([w for w, r in due if r == reason], reason)
        if prepared:
            await self._in_thread(prepared)
        return len(prepared)

    async def seal_early(self, windows: Sequence[Window]) -> None:
        """Seal windows pushed out by ``max_open``."""
        if windows:
            await self._in_thread(self.prepare(windows, "capacity"))

    async def seal_now(self, alert_id: str, reason: str) -> bool:
        """Seal the open window of ``alert_id`` now with ``reason``; False when it is no longer
        open (pushed out by ``max_open``) or the store refused it."""
        if alert_id not in self.open:
            return False
        return await self._in_thread(self.prepare([self._pop(alert_id)], reason)) == 1

    async def _in_thread(self, prepared: Sequence[tuple[dict[str, Any], bytes]]) -> int:
        """:meth:`write` in a worker thread, owned here so that a cancelled caller's write is
        still awaited before the file closes; how many were sealed."""
        fut = asyncio.ensure_future(asyncio.to_thread(self.write, prepared))
        self._writes.add(fut)
        fut.add_done_callback(self._writes.discard)
        return await asyncio.shield(fut)

    # --- reading -------------------------------------------------------------------------------
    async def lookup(self, alert_id: str) -> dict[str, Any] | None:
        """The evidence of ``alert_id``: the open window so far, else the sealed document."""
        w = self.open.get(alert_id)
        if w is not None:
            return {**document(w, self.profiles), "sealed": False, "sha256": None}
        sealed = await asyncio.to_thread(self.store.get, alert_id)
        return None if sealed is None else sealed.document()

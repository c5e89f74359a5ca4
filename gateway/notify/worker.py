"""One channel's delivery task: a bounded queue in front, its policy deciding when, the shared
retry policy around each POST.

:meth:`NotifyWorker.submit` never blocks and never raises: the ingest pipeline calls it while
holding its batch lock. A full queue drops the new change (counted in
``cw_notify_dropped_total``, logged once when dropping starts and once when it stops). A
message that still fails after its retries is counted in ``cw_notify_failed_total`` and
dropped (delivery is best-effort; the alert itself is stored and on the dashboard); the
channel's going down and coming back are each logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import aiohttp

from chargewatch.clock import Clock
from chargewatch.logs import kv
from chargewatch.retry import Backoff, retry_async
from chargewatch.tasks import cancel_and_wait
from gateway.metrics import Metrics
from gateway.notify._item import NotifyItem
from gateway.notify.channels import Channel, DeliveryError, TransientDeliveryError
from gateway.notify.policy import Policy

log = logging.getLogger(__name__)


class NotifyWorker:
    """``async with NotifyWorker(...)`` runs the channel's task until exit."""

    def __init__(
        self,
        channel: Channel,
        policy: Policy,
        *,
        clock: Clock,
        metrics: Metrics,
        backoff: Backoff,
        queue_max: int = 1000,
        timeout_s: float = 10.0,
    ) -> None:
        self.channel = channel
        self.policy = policy
        self.clock = clock
        self.metrics = metrics
        self.backoff = backoff
        self.timeout_s = timeout_s
        self._queue: asyncio.Queue[tuple[float, NotifyItem]] = asyncio.Queue(queue_max)
        self._signal = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._up: bool | None = None
        self._dropping = 0

    @property
    def name(self) -> str:
        return self.channel.name

    async def __aenter__(self) -> Self:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        self._task = asyncio.create_task(self._run(), name=f"notify-{self.name}")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            task, self._task = self._task, None
            await cancel_and_wait(task)
            await self._last_words()
        finally:
            if self._http is not None:
                await self._http.close()

    async def _last_words(self) -> None:
        """At shutdown, one bounded attempt for what is still grouped or queued."""
        self._take()
        batches = self.policy.drain()
        if not batches:
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                for batch in batches:
                    await self._attempt(batch)
                    self.metrics.inc("cw_notify_sent_total", channel=self.name)
        except (DeliveryError, TimeoutError) as exc:
            self.metrics.inc("cw_notify_failed_total", channel=self.name)
            log.warning(kv("notify_not_sent_at_shutdown", channel=self.name, error=exc))

    def submit(self, item: NotifyItem) -> None:
        """Queue one alert change (never blocks; a full queue drops it, counted)."""
        try:
            self._queue.put_nowait((self.clock.time(), item))
        except asyncio.QueueFull:
            self.metrics.inc("cw_notify_dropped_total", channel=self.name)
            if not self._dropping:
                log.warning(kv("notify_queue_full", channel=self.name, size=self._queue.maxsize))
            self._dropping += 1
            return
        if self._dropping:
            log.warning(kv("notify_queue_accepting", channel=self.name, dropped=self._dropping))
            self._dropping = 0
        self.wake()

    def wake(self) -> None:
        """Re-check the policy now (tests call it after advancing their clock)."""
        self._idle.clear()
        self._signal.set()

    async def sync(self) -> None:
        """Until every change submitted so far is taken and every message due now is sent."""
        self.wake()
        await self._idle.wait()

    def _take(self) -> None:
        held = 0
        while not self._queue.empty():
            at, item = self._queue.get_nowait()
            held += self.policy.offer([item], at)  # grouped by when the change was submitted
        if held:
            self.metrics.inc("cw_notify_suppressed_total", held, channel=self.name)

    async def _run(self) -> None:
        while True:
            self._signal.clear()
            self._take()
            for batch in self.policy.due(self.clock.time()):
                await self._deliver(batch)
            due = self.policy.next_due()
            now = self.clock.time()
            if due is not None and due <= now:
                continue
            if self._queue.empty() and not self._signal.is_set():
                self._idle.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if due is None else due - now):
                    await self._signal.wait()

    async def _attempt(self, batch: Sequence[NotifyItem]) -> None:
        assert self._http is not None
        async with asyncio.timeout(self.timeout_s):
            await self.channel.send(self._http, batch, self.clock.time())

    async def _deliver(self, batch: Sequence[NotifyItem]) -> None:
        try:
            retry_on = (TransientDeliveryError, TimeoutError)
            await retry_async(lambda: self._attempt(batch), retry_on, self.backoff)
        except (DeliveryError, TimeoutError) as exc:
            self._failed(batch, exc)
            return
        except Exception as exc:  # a bug in rendering must not stop the channel or reach ingest
            log.exception(kv("notify_message_not_built", channel=self.name, alerts=len(batch)))
            self._failed(batch, exc)
            return
        self.metrics.inc("cw_notify_sent_total", channel=self.name)
        if self._up is False:
            log.info(kv("notify_channel_up", channel=self.name))
        self._up = True

    def _failed(self, batch: Sequence[NotifyItem], exc: Exception) -> None:
        self.metrics.inc("cw_notify_failed_total", channel=self.name)
        if self._up is not False:
            log.warning(kv("notify_channel_down", channel=self.name, alerts=len(batch), error=exc))
        self._up = False

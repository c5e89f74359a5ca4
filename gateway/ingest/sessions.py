"""The gateway's two MQTT sessions and their loops: discovery (wildcards, paced) and trusted.

:class:`IngestSessions` opens both sessions (see routing.py for why there are two), wires the
:class:`gateway.ingest.routing.Router` and the :class:`gateway.ingest.pacing.DiscoveryPacer`,
and hands the gateway its loops to run as tasks:

* ``ingest-trusted`` — batches of the trusted session, first in line for the pipeline;
* ``ingest`` — small batches of the discovery session plus held copies the trusted session
  never delivered, each only while no trusted batch is being handled and the event loop keeps
  up, so a discovery backlog stays in the broker (which drops it there);
* ``trust`` — every second, subscribe the trusted session to devices that earned it;
* ``pace`` — the discovery read budget following the event loop's lag.

Acks, alerts and commands are published on the trusted session (``publish``): its PUBACKs
never queue behind a flood. Command replies arrive on the discovery session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self

import msgspec

from chargewatch import topics
from chargewatch.clock import Clock
from gateway.config import GatewayConfig
from gateway.ingest.limits import Admission, DeadItem
from gateway.ingest.mqtt import Inbound, MqttSession
from gateway.ingest.pacing import DiscoveryPacer
from gateway.ingest.routing import Router, Seen
from gateway.liveness import KnownDevices
from gateway.metrics import Metrics

#: messages per discovery-session batch: the most a trusted batch waits behind
DISCOVERY_BATCH = 50
#: admitted discovery messages held in memory at most; beyond, the broker holds (or drops) them
DISCOVERY_INBOX = 5000

Handle = Callable[[list[Inbound]], Awaitable[None]]
Loop = tuple[str, Callable[[], Coroutine[Any, Any, None]]]


class IngestSessions:
    """``async with IngestSessions(...) as s:`` then run ``s.loops(handle, dead_letter)``."""

    def __init__(
        self,
        cfg: GatewayConfig,
        *,
        admission: Admission,
        known: KnownDevices,
        seen: Seen,
        metrics: Metrics,
        clock: Clock,
        password: str,
        will: tuple[str, bytes],
    ) -> None:
        self.cfg = cfg
        self.admission = admission
        self.metrics = metrics
        self.clock = clock
        self._password = password
        self._will = will
        self.router = Router(admission, known, seen, metrics, trust_after_s=cfg.limits.trust_after_s)
        self._stack = AsyncExitStack()
        self._trusted_idle = asyncio.Event()
        self._trusted_idle.set()

    async def __aenter__(self) -> Self:
        cfg, stack = self.cfg, self._stack
        filters = [topics.device_filter(leaf) for leaf in (topics.TELEMETRY, topics.EVENT, topics.CMD_REPLY)]
        try:
            self.discovery = await stack.enter_async_context(
                MqttSession(
                    cfg.mqtt,
                    [*filters, topics.STATUS_FILTER],
                    password=self._password,
                    will=self._will,
                    clock=self.clock,
                    admit=self.router.admit_discovery,
                    read_per_s=cfg.limits.discovery_read_per_s,
                    max_inbox=DISCOVERY_INBOX,
                )
            )
            self.trusted = await stack.enter_async_context(
                MqttSession(
                    msgspec.structs.replace(cfg.mqtt, client_id=cfg.mqtt.client_id + "-known"),
                    [],
                    password=self._password,
                    clock=self.clock,
                    admit=self.router.admit_trusted,
                )
            )
        except BaseException:
            await stack.aclose()
            raise
        self.router.session = self.trusted
        assert self.discovery.read_budget is not None  # discovery_read_per_s > 0 by schema
        self.pacer = DiscoveryPacer(self.discovery.read_budget, self.metrics)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish on the trusted session (acks, alerts)."""
        self.trusted.publish(topic, payload, retain)

    def loops(self, handle: Handle, dead_letter: Callable[[list[DeadItem]], None]) -> list[Loop]:
        """The (name, coroutine function) of every loop the gateway runs as a task."""

        async def discovery() -> None:
            size = min(self.cfg.limits.batch_max, DISCOVERY_BATCH)
            while True:
                batch = await self.discovery.next_batch(size, idle=self.router.hold_s / 2)
                batch += self.router.release(self.clock.time())
                refused = self.admission.take_dead()
                if refused:
                    dead_letter(refused)
                if batch:
                    await self._trusted_idle.wait()
                    await self.pacer.calm.wait()
                    await handle(batch)

        async def trusted() -> None:
            while True:
                batch = await self.trusted.next_batch(self.cfg.limits.batch_max, idle=1.0)
                if batch:
                    self._trusted_idle.clear()
                    try:
                        await handle(batch)
                    finally:
                        self._trusted_idle.set()

        async def trust() -> None:
            while True:
                await asyncio.sleep(1.0)
                await self.router.trust_due(self.clock.time())

        return [
            ("ingest", discovery),
            ("ingest-trusted", trusted),
            ("trust", trust),
            ("pace", self.pacer.run),
        ]

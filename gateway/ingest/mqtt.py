"""The gateway's MQTT session: paho-mqtt 2.x driven by the asyncio loop, batches for the pipeline.

Why paho and not aiomqtt: DESIGN.md measures aiomqtt at ≈ 3× paho's CPU per message. The
session runs on :class:`chargewatch.mqtt_transport.Connection`, the edge agent's in-loop
transport: paho's socket is registered with the loop, so there is no network thread, no
per-message thread hand-off and no GIL contention with the pipeline. ``on_message`` only appends
``(topic, payload, received)`` to a list and wakes the consumer when the list stops being empty;
:meth:`MqttSession.next_batch` takes the list (whole when it fits). Past ``max_inbox`` waiting
messages the session stops reading the socket until the pipeline catches up, so the broker
queues (``max_queued_messages``) instead of this process growing without bound. An ``admit``
check (gateway/ingest/limits.py: rate limits, new-device budget) runs first, on the topic
alone, so a flood is refused before it takes inbox space or any decoding.

Session: persistent (``clean_session=False``, a fixed client id — config.py refuses anything
else) at QoS 1, subscriptions renewed (and their SUBACK awaited) on every connect: a broker
restarted without persistence forgets them. One paho client serves every connection, so the
QoS 1 publishes (acks, alerts, status) it has not seen acknowledged are re-sent after a
reconnect. Mosquitto traps (DESIGN.md): with its default config a SIGKILL loses queued QoS 1
messages and more than 1,000 queued per client are dropped silently; the gateway therefore never
relies on the broker for durability — agents re-send until the gateway's *application* Ack,
gaps are detected by seq (dedupe.py), and production brokers should set ``persistence true``,
``max_queued_messages`` and ``max_queued_bytes`` deliberately. An oversized QoS 1 message is
acknowledged by Mosquitto then dropped; the agent's re-send reveals it.

Reconnects follow :class:`chargewatch.retry.Backoff`. A failed attempt (TCP or TLS error, a
refused CONNACK, the broker closing the TLS session before its CONNACK, as it does without a
client certificate it requires) is logged once per failing streak with its reason, kept in
``last_error``, and backs off further each time.

TLS (``mqtts://``): the broker is verified against ``ca_file`` (the system CAs when empty), for
its host name or IP too; ``cert_file``/``key_file`` are presented when set. config.py checked
the files at load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Self

from chargewatch.clock import Clock, SystemClock
from chargewatch.errors import ChargeWatchError
from chargewatch.logs import kv
from chargewatch.mqtt_config import MqttConfig
from chargewatch.mqtt_transport import Connection, LinkError, make_client
from chargewatch.retry import Backoff
from chargewatch.tasks import cancel_and_wait
from gateway.ingest.limits import TokenBucket

log = logging.getLogger(__name__)

Inbound = tuple[str, bytes, float]
Admit = Callable[[str, bytes, float], bool]

MAX_INFLIGHT = 100
REST_S = 0.05
SUBSCRIBE_CHUNK = 500


class MqttError(ChargeWatchError):
    """The MQTT session failed; carries the broker URL."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"{url}: {detail}")
        self.url = url


class MqttSession:
    """``async with MqttSession(cfg, filters) as s:`` then ``await s.next_batch()`` / ``s.publish()``."""

    def __init__(
        self,
        cfg: MqttConfig,
        filters: list[str],
        *,
        password: str = "",
        will: tuple[str, bytes] | None = None,
        backoff: Backoff | None = None,
        max_inbox: int = 50_000,
        clock: Clock | None = None,
        admit: Admit | None = None,
        read_per_s: float = 0.0,
    ) -> None:
        self.cfg = cfg
        self._admit = admit
        #: a CPU budget: at most this many messages read a second (0 = unbounded); beyond it the
        #: socket rests and the broker keeps — or drops — the rest for this session
        self.read_budget = TokenBucket(read_per_s, read_per_s, 0.0) if read_per_s > 0 else None
        self._resting: asyncio.TimerHandle | None = None
        self._now = (clock or SystemClock()).time
        self._filters = dict.fromkeys(filters)
        self.backoff = backoff or Backoff(initial=0.2, cap=30.0)
        self._inbox: list[Inbound] = []
        self.max_inbox = max_inbox
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.connects = 0
        self.rested = 0
        self.last_error = ""
        self._failing = False
        self._ep = cfg.endpoint(
            password=password or None, mqtt5=False, clean_start=False, max_inflight=MAX_INFLIGHT, will=will
        )
        try:
            self._client = make_client(self._ep)
        except LinkError as exc:
            raise MqttError(cfg.url, self._detail(exc)) from exc

    def _on_message(self, topic: str, payload: bytes) -> None:
        budget = self.read_budget
        if budget is not None and not budget.take(asyncio.get_running_loop().time()):
            self._rest()
        received = self._now()
        if self._admit is not None and not self._admit(topic, payload, received):
            return
        inbox = self._inbox
        inbox.append((topic, payload, received))
        if len(inbox) == 1:
            self._wake.set()
        elif len(inbox) > self.max_inbox and self._conn is not None:
            self._conn.pause_reading()

    def _rest(self) -> None:
        """Out of read budget: stop reading for a moment (the message in hand is still handled)."""
        if self._resting is None and self._conn is not None:
            self.rested += 1
            self._conn.pause_reading()
            self._resting = asyncio.get_running_loop().call_later(REST_S, self._rested)

    def _rested(self) -> None:
        self._resting = None
        if self._conn is not None and len(self._inbox) <= self.max_inbox and self._resting is None:
            self._conn.resume_reading()

    @property
    def filters(self) -> list[str]:
        """The filters subscribed on every connect."""
        return list(self._filters)

    @staticmethod
    async def _subscribe(conn: Connection, filters: list[str]) -> None:
        for i in range(0, len(filters), SUBSCRIBE_CHUNK):
            await conn.subscribe([(f, 1) for f in filters[i : i + SUBSCRIBE_CHUNK]])

    async def add_filters(self, filters: list[str]) -> bool:
        """Subscribe to more filters; True once the broker acknowledged them (False when not
        connected now or without a SUBACK in time: they are subscribed at the next connect)."""
        new = [f for f in filters if f not in self._filters]
        self._filters.update(dict.fromkeys(new))
        conn = self._conn
        if not new or conn is None or not self._connected.is_set():
            return not new
        try:
            await self._subscribe(conn, new)
        except LinkError as exc:
            log.warning(kv("mqtt_subscribe_failed", url=self.cfg.url, filters=len(new), error=exc))
            return False
        return True

    def remove_filters(self, filters: list[str]) -> None:
        """Unsubscribe (without waiting for the broker) and forget the filters."""
        gone = [f for f in filters if f in self._filters]
        for f in gone:
            del self._filters[f]
        if gone and self._conn is not None:
            self._client.unsubscribe(gone)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def backlog(self) -> int:
        """Messages received and not yet taken by :meth:`next_batch`."""
        return len(self._inbox)

    async def wait_connected(self, within: float) -> None:
        """Wait until the session is up (connected and subscribed); MqttError after ``within`` s."""
        try:
            async with asyncio.timeout(within):
                await self._connected.wait()
        except TimeoutError as exc:
            last = f" (last error: {self.last_error})" if self.last_error else ""
            raise MqttError(self.cfg.url, f"not connected after {within} s{last}") from exc

    def _detail(self, exc: LinkError) -> str:
        return str(exc).removeprefix(f"{self._ep.name}: ")

    def _failed(self, error: str) -> None:
        """One failed attempt: remembered, and logged once per failing streak."""
        self.last_error = error
        if not self._failing:
            self._failing = True
            log.warning(
                kv("mqtt_connect_failed", url=self.cfg.url, client_id=self.cfg.client_id, error=error)
            )

    async def _connection(self) -> bool:
        """One connection from connect to loss; whether it came up."""
        try:
            async with Connection(self._ep, self._on_message, client=self._client) as conn:
                self._conn = conn
                await self._subscribe(conn, list(self._filters))
                self.connects += 1
                self._failing = False
                self._connected.set()
                log.info(
                    kv(
                        "mqtt_connected",
                        url=self.cfg.url,
                        client_id=self.cfg.client_id,
                        session=conn.session_present,
                    )
                )
                reason = await conn.wait_lost()
                log.warning(kv("mqtt_disconnected", url=self.cfg.url, reason=reason))
                return True
        except LinkError as exc:
            self._failed(self._detail(exc))
            return False
        finally:
            self._conn = None
            self._connected.clear()

    async def _supervise(self) -> None:
        retrying = self.backoff.start()
        while True:
            if await self._connection():
                retrying.succeeded()  # a lost session: reconnect after the first delay, uncounted
                delay: float | None = self.backoff.delay(0)
            else:
                delay = retrying.next_delay()
            assert delay is not None, "reconnects are unbounded"
            await asyncio.sleep(delay)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._supervise(), name=f"mqtt-{self.cfg.client_id}")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Cancel the session: a live connection sends what is queued, then DISCONNECT."""
        if self._resting is not None:
            self._resting.cancel()
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Queue a QoS 1 publish (paho re-sends it after a reconnect)."""
        self._client.publish(topic, payload, qos=1, retain=retain)

    async def next_batch(self, max_items: int, idle: float) -> list[Inbound]:
        """Up to ``max_items`` received messages; an empty list after ``idle`` s of silence."""
        if not self._inbox:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(idle):
                    await self._wake.wait()
        inbox = self._inbox
        if len(inbox) <= max_items:
            self._inbox = []
            batch = inbox
        else:
            batch = inbox[:max_items]
            del inbox[:max_items]
        if self._conn is not None and len(self._inbox) <= self.max_inbox:
            self._conn.resume_reading()
        return batch

"""The gateway's MQTT session: paho-mqtt 2.x in its network thread, batches handed to asyncio.

Why paho and not aiomqtt: DESIGN.md measures aiomqtt at ≈ 3× paho's CPU per message. The
paho thread only appends ``(topic, payload, received)`` to a deque and wakes the event loop
once per batch; all decoding happens in the asyncio task that drains it.

Session: persistent (``clean_session=False``, a fixed client id — config.py refuses anything
else) at QoS 1, subscriptions renewed on every connect (a broker restarted without persistence
forgets them). Mosquitto traps (DESIGN.md): with its default config a SIGKILL loses queued QoS 1
messages and more than 1,000 queued per client are dropped silently; the gateway therefore never
relies on the broker for durability — agents re-send until the gateway's *application* Ack,
gaps are detected by seq (dedupe.py), and production brokers should set ``persistence true``,
``max_queued_messages`` and ``max_queued_bytes`` deliberately. An oversized QoS 1 message is
acknowledged by Mosquitto then dropped; the agent's re-send reveals it.

Reconnects follow :class:`chargewatch.retry.Backoff`: paho's own reconnect loop is switched off.
A failed attempt (TCP or TLS error, a refused CONNACK, the broker closing the TLS session before
its CONNACK, as it does without a client certificate it requires) is logged once per failing
streak with its reason, kept in ``last_error``, and backs off further each time.

TLS (``mqtts://``): the broker is verified against ``ca_file`` (the system CAs when empty), for
its host name or IP too; ``cert_file``/``key_file`` are presented when set. config.py checked
the files at load. paho reports socket errors only through its log, so the session listens to
paho's log from each connect until the CONNACK, and not after (formatting every packet's line
would cost on the hot path).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections import deque
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, LogLevel

from chargewatch.clock import Clock, SystemClock
from chargewatch.errors import ChargeWatchError
from chargewatch.logs import kv
from chargewatch.retry import Backoff
from gateway.config import MqttConfig

log = logging.getLogger(__name__)

Inbound = tuple[str, bytes, float]


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
    ) -> None:
        self.cfg = cfg
        self._now = (clock or SystemClock()).time
        self.filters = filters
        self.backoff = backoff or Backoff(initial=0.2, cap=30.0)
        self._inbox: deque[Inbound] = deque()
        self.max_inbox = max_inbox
        self._room = threading.Event()
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self.connects = 0
        self.last_error = ""
        self._refusal = ""
        self._socket_error = ""
        self._up = False
        self._failing = False
        self._closing = False
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            clean_session=False,
            reconnect_on_failure=False,
        )
        if cfg.username:
            client.username_pw_set(cfg.username, password or None)
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        if cfg.tls:
            try:
                client.tls_set(
                    ca_certs=cfg.ca_file or None, certfile=cfg.cert_file or None, keyfile=cfg.key_file or None
                )
            except (OSError, ValueError) as exc:
                raise MqttError(cfg.url, f"cannot load TLS files: {exc}") from exc
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    # --- paho thread -------------------------------------------------------------------------
    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        was_empty = not self._inbox
        self._inbox.append((msg.topic, bytes(msg.payload), self._now()))
        if was_empty:
            self._loop.call_soon_threadsafe(self._wake.set)
        while len(self._inbox) > self.max_inbox and not self._closing:
            # backpressure: stop reading the socket until the pipeline catches up, so the
            # broker queues (max_queued_messages) instead of this process growing without bound
            self._room.clear()
            self._room.wait(1.0)

    def _on_log(self, _c: paho.Client, _u: Any, level: int, buf: str) -> None:
        if level == LogLevel.MQTT_LOG_ERR and not self._socket_error:
            self._socket_error = buf

    def _on_connect(self, client: paho.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        client.on_log = None
        if rc.is_failure:
            self._refusal = f"broker refused client {self.cfg.client_id!r}: {rc}"
            return
        client.subscribe([(f, 1) for f in self.filters])
        self._loop.call_soon_threadsafe(self._set_connected, bool(flags.session_present))

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self._loop.call_soon_threadsafe(self._set_lost, str(rc))

    # --- event loop --------------------------------------------------------------------------
    def _set_connected(self, session_present: bool) -> None:
        self.connects += 1
        self._up = True
        self._failing = False
        self._lost.clear()
        self._connected.set()
        log.info(
            kv("mqtt_connected", url=self.cfg.url, client_id=self.cfg.client_id, session=session_present)
        )

    def _set_lost(self, reason: str) -> None:
        if self._connected.is_set() and not self._closing:
            log.warning(kv("mqtt_disconnected", url=self.cfg.url, reason=reason))
        elif not self._up and not self._closing:
            self._failed(self._refusal or self._closed_early(reason))
        self._connected.clear()
        self._lost.set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def backlog(self) -> int:
        """Messages received and not yet taken by :meth:`next_batch`."""
        return len(self._inbox)

    async def wait_connected(self, within: float) -> None:
        """Wait until the session is up; MqttError after ``within`` s."""
        try:
            async with asyncio.timeout(within):
                await self._connected.wait()
        except TimeoutError as exc:
            last = f" (last error: {self.last_error})" if self.last_error else ""
            raise MqttError(self.cfg.url, f"not connected after {within} s{last}") from exc

    def _failed(self, error: str) -> None:
        """One failed attempt: remembered, and logged once per failing streak."""
        self.last_error = error
        if not self._failing:
            self._failing = True
            log.warning(
                kv("mqtt_connect_failed", url=self.cfg.url, client_id=self.cfg.client_id, error=error)
            )

    def _closed_early(self, reason: str) -> str:
        text = f"the broker closed the connection before its CONNACK ({self._socket_error or reason})"
        if self.cfg.tls and not self.cfg.cert_file:
            # the TLS 1.3 "certificate required" alert is often lost to the connection reset
            text += "; if the broker requires a client certificate, set mqtt.cert_file and mqtt.key_file"
        return text

    async def _connect_once(self) -> None:
        self._up = False
        self._refusal = self._socket_error = ""
        self._client.on_log = self._on_log
        async with asyncio.timeout(self.cfg.connect_timeout_s):
            await asyncio.to_thread(self._client.connect, self.cfg.host, self.cfg.port, self.cfg.keepalive_s)
        self._lost.clear()
        self._client.loop_start()

    async def _supervise(self) -> None:
        failures = 0
        while True:
            try:
                await self._connect_once()
            except ssl.SSLError as exc:
                self._failed(f"TLS handshake failed: {exc}")
            except (OSError, TimeoutError) as exc:
                self._failed(repr(exc))
            else:
                await self._lost.wait()
                await asyncio.to_thread(self._client.loop_stop)
            failures = 0 if self._up else failures + 1
            await asyncio.sleep(self.backoff.delay(max(0, failures - 1)))

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._supervise(), name=f"mqtt-{self.cfg.client_id}")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing = True
        self._room.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Queue a QoS 1 publish (paho re-sends it after a reconnect)."""
        self._client.publish(topic, payload, qos=1, retain=retain)

    async def next_batch(self, max_items: int, idle: float) -> list[Inbound]:
        """Up to ``max_items`` received messages; an empty list after ``idle`` s of silence."""
        if not self._inbox:
            self._wake.clear()
            if not self._inbox:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(idle):
                        await self._wake.wait()
        n = min(max_items, len(self._inbox))
        popleft = self._inbox.popleft
        batch = [popleft() for _ in range(n)]
        self._room.set()
        return batch

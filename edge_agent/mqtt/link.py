"""The agent's MQTT link: store-and-forward from the outbox, acks, status, commands.

``async with MqttLink(settings, outbox, agent=..., devices=[...]) as link`` starts one named
supervisor task that (re)connects with a persistent session and capped, jittered backoff
(:class:`chargewatch.retry.Backoff`). Per connection it:

* sets the last will (retained ``Status(online=False)``) and publishes the retained online Status
  (boot, version, devices, health), refreshed every ``status_interval_s``;
* subscribes to the ``ack`` and ``cmd`` topics of its devices; an Ack deletes the acked rows
  (every Ack read in one loop tick is applied in one outbox transaction, without an fsync),
  never past the highest seq this process published for that (device, boot): the rest of a
  range is ignored, logged (``ack_beyond_sent``) and counted,
  a signed command that ``command_auth`` accepts goes to ``on_command`` and every reply
  (refusals included) is published on ``cmd/reply``;
* publishes every row the outbox commits from then on at once (live);
* after a random delay in ``[0, reconnect_drain_delay_max]`` sends the stored backlog: events
  first, then telemetry oldest-first at ``drain_rate`` msgs/s with at most ``drain_window``
  published rows awaiting the gateway's ack. The window is back-pressure from the consumer:
  a broker queues only ~1,000 messages per slow subscriber before silently dropping (Mosquitto's
  default), so the backlog never outruns the gateway, and live rows (which bypass the window)
  never queue behind the whole backlog;
* publishes again any row not acked within ``resend_timeout`` (at most ``drain_window`` a tick).

Everything runs in the loop thread (see ``chargewatch.mqtt_transport``); the outbox is reached
through its :class:`~edge_agent.outbox.OutboxWriter` (an :class:`~edge_agent.outbox.Outbox`
passed directly is used in place, for tests and benchmarks that own one).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from chargewatch import __version__
from chargewatch.clock import Clock, SystemClock
from chargewatch.errors import MessageError
from chargewatch.logs import kv
from chargewatch.messages import Ack, AckRange, Status, decode_message, encode
from chargewatch.mqtt_transport import Connection, Endpoint, LinkError
from chargewatch.retry import Backoff
from chargewatch.tasks import cancel_and_wait
from chargewatch.topics import ACK, CMD, CMD_REPLY, EVENT, TELEMETRY, agent_status_topic, device_topic
from edge_agent.command_auth import CommandAuth
from edge_agent.health import Health
from edge_agent.mqtt._commands import CommandCallback, CommandDesk
from edge_agent.mqtt.settings import MqttSettings
from edge_agent.outbox import EVENT_PRIO, TELEMETRY_PRIO, Outbox, OutboxWriter, Row

log = logging.getLogger(__name__)


class _SessionLostError(Exception):
    """Internal: the connection ended; the supervisor reconnects."""


class MqttLink:
    """Async context manager owning the MQTT session of one agent (see the module docstring)."""

    def __init__(
        self,
        settings: MqttSettings,
        outbox: Outbox | OutboxWriter,
        *,
        agent: str,
        devices: Sequence[str],
        on_command: CommandCallback | None = None,
        command_auth: CommandAuth | None = None,
        health: Health | None = None,
        version: str = __version__,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        health_file: Path | None = None,
    ) -> None:
        self.settings = settings
        self.store = outbox if isinstance(outbox, OutboxWriter) else OutboxWriter.inline(outbox)
        self.outbox = self.store.outbox
        self.agent = agent
        self.devices = list(devices)
        self.health = health or Health()
        self.version = version
        self._ob = self.outbox.settings
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._health_file = health_file
        self._backoff = Backoff(initial=settings.backoff_initial_s, cap=settings.backoff_cap_s, rng=self._rng)
        self._desk = CommandDesk(
            on_command, self._clock, settings.command_timeout_s, auth=command_auth, health=self.health
        )
        self._status_topic = agent_status_topic(agent)
        self._topics = {d: (device_topic(d, TELEMETRY), device_topic(d, EVENT)) for d in self.devices}
        self._conn: Connection | None = None
        self._connected = asyncio.Event()
        self._awaiting: OrderedDict[int, float] = OrderedDict()
        self._window_free = asyncio.Event()
        self._slot = 0.0
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._endpoint: Endpoint | None = None
        self._acks: list[tuple[str, int, Sequence[AckRange]]] = []
        self._sent_top: dict[tuple[str, int], int] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> MqttLink:
        s = self.settings
        will = (self._status_topic, self._status(online=False))
        self._endpoint = s.endpoint(
            session_expiry=s.session_expiry_s, mqtt5=s.protocol == "5", max_inflight=s.max_inflight, will=will
        )
        await self.store.add_listener(self)
        self._runner = asyncio.create_task(self._run(), name=f"mqtt-link-{self.agent}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._apply_acks()
        await self.store.remove_listener(self)
        conn = self._conn
        if conn is not None and conn.connected:
            conn.publish(self._status_topic, self._status(online=False), retain=True)
        runner, self._runner = self._runner, None
        await cancel_and_wait(*self._tasks, runner)

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Return once a session is up (callers bound the wait with ``asyncio.timeout``)."""
        await self._connected.wait()

    # -- outbox listener ---------------------------------------------------------------------
    def committed(self, rows: Sequence[Row]) -> None:
        """Publish freshly committed rows at once when connected (else they wait as backlog)."""
        if self._conn is not None:
            for row in rows:
                self._publish_row(row)

    def deleted(self, ids: Sequence[int]) -> None:
        pop = self._awaiting.pop
        for i in ids:
            pop(i, None)
        if len(self._awaiting) <= self._ob.drain_window * 3 // 4:
            self._window_free.set()

    # -- supervisor --------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._endpoint is not None
        retrying = self._backoff.start()
        failing = False
        while True:
            try:
                async with Connection(self._endpoint, self._on_message) as conn:
                    retrying.succeeded()
                    failing = False
                    await self._session(conn)
            except LinkError as exc:
                if not failing:
                    log.warning(kv("mqtt_connect_failed", agent=self.agent, error=exc))
                failing = True
            delay = retrying.next_delay()
            assert delay is not None, "reconnects are unbounded"
            log.debug(kv("mqtt_reconnect_in", agent=self.agent, delay_s=round(delay, 3)))
            await asyncio.sleep(delay)

    async def _session(self, conn: Connection) -> None:
        self._conn = conn
        self._awaiting.clear()
        self._window_free.set()
        subs = [(device_topic(d, leaf), 1) for d in self.devices for leaf in (ACK, CMD)]
        await conn.subscribe(subs)
        self.health.connected = True
        await self._refresh_health()
        conn.publish(self._status_topic, self._status(online=True), retain=True)
        upto = await self.store.run(self.outbox.last_id)
        self._connected.set()
        log.info(kv("mqtt_connected", agent=self.agent, broker=conn.ep.name, session=conn.session_present))
        try:
            # The group runs in a task of its own: on Python 3.11 a TaskGroup ended by a failing
            # child leaves its parent's cancel request counted (cancelling() > 0), which would
            # make every later cancel check in the supervisor believe it is being cancelled.
            await asyncio.create_task(self._session_tasks(conn, upto), name=f"mqtt-session-{self.agent}")
        finally:
            self._conn = None
            self._connected.clear()
            self.health.connected = False

    async def _session_tasks(self, conn: Connection, upto: int) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._drain(upto), name="mqtt-drain")
                tg.create_task(self._resend_loop(), name="mqtt-resend")
                tg.create_task(self._status_loop(), name="mqtt-status")
                tg.create_task(self._until_lost(conn), name="mqtt-watch")
        except* _SessionLostError:
            pass

    async def _until_lost(self, conn: Connection) -> None:
        reason = await conn.wait_lost()
        log.warning(kv("mqtt_lost", agent=self.agent, reason=reason, depth=self.outbox.depth()))
        raise _SessionLostError

    # -- publishing --------------------------------------------------------------------------
    def _publish_row(self, row: Row) -> None:
        conn = self._conn
        if conn is None:
            return
        tel, ev = self._topics.get(row.device) or (
            device_topic(row.device, TELEMETRY),
            device_topic(row.device, EVENT),
        )
        conn.publish(ev if row.prio == EVENT_PRIO else tel, row.payload)
        key = (row.device, row.boot)
        if row.seq > self._sent_top.get(key, -1):
            self._sent_top[key] = row.seq
        self._awaiting[row.id] = asyncio.get_running_loop().time()
        self._awaiting.move_to_end(row.id)
        self.health.published += 1

    async def _window(self) -> int:
        """Wait until fewer than ``drain_window`` rows await their ack; returns the room left."""
        while len(self._awaiting) >= self._ob.drain_window:
            self._window_free.clear()
            await self._window_free.wait()
        return self._ob.drain_window - len(self._awaiting)

    async def _pace(self, n: int) -> None:
        rate = self._ob.drain_rate
        if rate <= 0:
            return
        now = asyncio.get_running_loop().time()
        self._slot = max(self._slot, now)
        wait = self._slot - now
        self._slot += n / rate
        if wait > 0:
            await asyncio.sleep(wait)

    async def _send_backlog(self, prio: int, upto: int) -> int:
        after, sent = 0, 0
        chunk_max = max(1, int(self._ob.drain_rate * 0.05)) if self._ob.drain_rate > 0 else 10_000
        while True:
            room = await self._window()
            query = partial(
                self.outbox.pending, prio=prio, after_id=after, upto_id=upto, limit=min(room, chunk_max)
            )
            rows = await self.store.run(query)
            if not rows:
                return sent
            if prio == TELEMETRY_PRIO:
                await self._pace(len(rows))
            for row in rows:
                self._publish_row(row)
            after = rows[-1].id
            sent += len(rows)
            await asyncio.sleep(0)

    async def _drain(self, upto: int) -> None:
        delay = self._rng.uniform(0.0, self._ob.reconnect_drain_delay_max)
        if delay > 0:
            log.info(kv("mqtt_drain_delay", agent=self.agent, delay_s=round(delay, 3)))
            await asyncio.sleep(delay)
        depth = self.outbox.depth()
        events = await self._send_backlog(EVENT_PRIO, upto)
        telemetry = await self._send_backlog(TELEMETRY_PRIO, upto)
        if events or telemetry:
            log.info(
                kv("mqtt_backlog_sent", agent=self.agent, events=events, telemetry=telemetry, depth=depth)
            )

    async def _resend_loop(self) -> None:
        """Publish again rows unacked after ``resend_timeout``, at most ``drain_window`` per tick.

        A resent row already holds its place in ``_awaiting``, so resending never waits for the
        window: waiting there would stall every resend for good once a whole window of rows was
        lost (a consumer that subscribed after they went out), since only acks free the window.
        Rows past the per-tick cap stay due, oldest first, and go out on the next ticks.
        """
        timeout = self._ob.resend_timeout
        cap = self._ob.drain_window
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.05, timeout / 4))
            cutoff = loop.time() - timeout
            due: list[int] = []
            for rid, sent_at in self._awaiting.items():
                if sent_at > cutoff or len(due) >= cap:
                    break
                due.append(rid)
            if not due:
                continue
            rows = await self.store.run(partial(self.outbox.rows, due))
            for rid in set(due).difference(r.id for r in rows):
                self._awaiting.pop(rid, None)
            log.info(kv("mqtt_resend", agent=self.agent, rows=len(rows), awaiting=len(self._awaiting)))
            for row in rows:
                self._publish_row(row)

    # -- status and health -------------------------------------------------------------------
    def _status(self, *, online: bool) -> bytes:
        return encode(
            Status(
                agent=self.agent,
                online=online,
                boot=self.outbox.boot,
                ts=self._clock.time(),
                version=self.version,
                devices=self.devices,
                health=self.health.snapshot() if online else {},
            )
        )

    async def _refresh_health(self) -> None:
        ob = self.outbox
        oldest = await self.store.run(lambda: ob.oldest_age(self._clock.time()))
        self.health.set_outbox(ob.depth(), oldest, ob.dropped_total)

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.status_interval_s)
            await self._refresh_health()
            if self._conn is not None:
                self._conn.publish(self._status_topic, self._status(online=True), retain=True)
            if self._health_file is not None:
                self.health.write_json(self._health_file)

    # -- incoming ----------------------------------------------------------------------------
    def _on_message(self, topic: str, payload: bytes) -> None:
        device, leaf = topic.split("/")[3], topic.rsplit("/", 1)[-1]
        if leaf == ACK:
            self._on_ack(device, payload)
        elif leaf == CMD:
            task = asyncio.create_task(self._command(device, payload), name=f"mqtt-cmd-{device}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _on_ack(self, device: str, payload: bytes) -> None:
        try:
            msg = decode_message(payload)
        except MessageError as exc:
            log.warning(kv("ack_invalid", device=device, reason=exc.reason, detail=exc.detail))
            return
        if not isinstance(msg, Ack) or msg.device != device:
            log.warning(kv("ack_invalid", device=device, reason="not_an_ack_for_this_device"))
            return
        ranges = self._within_sent(msg)
        if not ranges:
            return
        if not self._acks:
            task = asyncio.create_task(self._apply_acks(), name=f"mqtt-acks-{self.agent}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._acks.append((msg.device, msg.boot, ranges))

    def _within_sent(self, msg: Ack) -> list[AckRange]:
        """The ack's ranges cut at the highest seq of (device, boot) this process published.

        Only the gateway acks, and only what it received: a range past what was ever sent is
        forged, so it must not delete rows still waiting to go out. Logged once per ack (at INFO
        for an earlier boot: a late ack of what a previous run sent is expected after a restart,
        and those rows are sent and acked again), and counted.
        """
        top = self._sent_top.get((msg.device, msg.boot), -1)
        beyond = [r for r in msg.ranges if r.hi > top]
        if not beyond:
            return msg.ranges
        self.health.acks_beyond_sent += 1
        log.log(
            logging.WARNING if msg.boot == self.outbox.boot else logging.INFO,
            kv(
                "ack_beyond_sent",
                device=msg.device,
                boot=msg.boot,
                ranges=[[r.lo, r.hi] for r in beyond],
                highest_sent=top,
            ),
        )
        return [r if r.hi <= top else AckRange(r.lo, top) for r in msg.ranges if r.lo <= top]

    async def _apply_acks(self) -> None:
        """Every ack read from the socket until this runs, applied in one outbox transaction."""
        acks, self._acks = self._acks, []
        if acks:
            deleted = await self.store.run(lambda: self.outbox.ack_many(acks))
            self.health.acked += deleted  # after the await: another ack task may have counted meanwhile

    async def _command(self, device: str, payload: bytes) -> None:
        self.health.commands += 1
        reply = await self._desk.handle(device, payload)
        conn = self._conn
        if reply is None:
            return
        if conn is None:
            log.warning(kv("command_reply_lost", device=device, id=reply.id, reason="disconnected"))
            return
        conn.publish(device_topic(device, CMD_REPLY), encode(reply))

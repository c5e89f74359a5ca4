"""The Gateway: one async context manager wiring MQTT in, the ingest pipeline, the spool and store,
liveness, alerts and the HTTP API.

``async with Gateway(cfg) as gw: await gw.wait()`` runs until :meth:`Gateway.stop` or a fatal
error in one of its tasks (which :meth:`wait` re-raises). Exiting cancels and awaits every task,
publishes the retained offline status and closes the session, API, spool, store and state.

This module keeps the order of start-up and shutdown, the tasks, the command audit trail and
the API's :class:`gateway.api.GatewayView`. :mod:`gateway.wiring` builds the parts (store,
analytics, marks, evidence, API server); :class:`gateway.status.GatewayStatus` is the retained
status, the sampled gauges, ``/api/health`` and the ``store_config`` alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

import msgspec

from chargewatch import topics
from chargewatch.clock import Clock, SystemClock
from chargewatch.errors import ChargeWatchError
from chargewatch.logs import kv
from chargewatch.messages import Alert, encode
from chargewatch.profiles import load_profiles
from chargewatch.tasks import cancel_and_wait
from gateway.api import EventHub
from gateway.commands import AUDIT_FIELDS, decode_reply, load_sender, reply_line, result_of, sent_line
from gateway.config import GatewayConfig
from gateway.ingest.alerts import Analytics
from gateway.ingest.analytics_hook import PipelineHook
from gateway.ingest.limits import Admission
from gateway.ingest.pipeline import IngestPipeline
from gateway.ingest.sessions import IngestSessions
from gateway.ingest.state import IngestState
from gateway.ingest.validate import TimePolicy
from gateway.liveness import KnownDevices, Liveness
from gateway.metrics import Metrics
from gateway.notify import Notifier
from gateway.sessions import SessionLog, read_sessions
from gateway.spool import Spool
from gateway.status import GatewayStatus, status_payload
from gateway.store import Row, TimeSeriesStore
from gateway.wiring import make_analytics, make_api, make_recorder, make_store, plan_rebuild, restore_tracker

log = logging.getLogger(__name__)
_REPLY_SUFFIX = "/" + topics.CMD_REPLY


class Gateway:
    """The running gateway; also the :class:`gateway.api.GatewayView` of the HTTP API."""

    def __init__(
        self,
        cfg: GatewayConfig,
        *,
        analytics: Analytics | None = None,
        store: TimeSeriesStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.profiles = load_profiles([Path(d) for d in cfg.profile_dirs])
        self.analytics: Analytics
        self.hook: PipelineHook | None  # the analytics pipeline's checkpoints, when it runs
        self.analytics, self.hook = (
            (analytics, None) if analytics is not None else make_analytics(cfg, self.profiles)
        )
        self._store_override = store
        self.metrics = Metrics()
        keepalive = cfg.liveness.device_keepalive_s
        offline_after = max(keepalive, cfg.liveness.offline_factor * keepalive - cfg.liveness.tick_s)
        self.known = KnownDevices()
        self.liveness = Liveness(offline_after, self.known, cfg.limits.max_devices)
        self.admission = Admission(cfg.limits, self.metrics, self.known, self.liveness.agent_of)
        self._stack = AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._done: asyncio.Future[None] | None = None
        self._checkpointed = self.clock.time()
        self.http_port = cfg.http.port
        self.sender = load_sender(cfg.commands, self.clock)
        self.events = EventHub()  # the control room's live updates (GET /api/events)

    # --- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        cfg = self.cfg
        stack = self._stack
        try:
            self.state = IngestState(
                cfg.spool.state_path, cfg.limits.dead_letter_payload_bytes, cfg.limits.dead_letter_keep
            )
            stack.callback(self.state.close)
            store: TimeSeriesStore
            if self._store_override is not None:
                store = self._store_override
            else:
                store = await stack.enter_async_context(make_store(cfg.store, self.metrics))
            self.store = store
            self.spool = await stack.enter_async_context(
                Spool(cfg.spool.path, store, degraded_after=cfg.spool.degraded_after_s, clock=self.clock)
            )
            if self.hook is not None and self.hook.load():
                log.info(kv("analytics_checkpoint_loaded", path=self.hook.path))
            tracker = restore_tracker(
                self.state, cfg.limits.gap_timeout_s, self.known, self.liveness, self.admission
            )
            offline = status_payload(False, False, self.clock.time(), cfg.site)
            will = (topics.gateway_status_topic(cfg.mqtt.client_id), offline)
            self.sessions = await stack.enter_async_context(
                IngestSessions(
                    cfg,
                    admission=self.admission,
                    known=self.known,
                    seen=tracker.seen,
                    metrics=self.metrics,
                    clock=self.clock,
                    password=cfg.mqtt.resolve_password() or "",
                    will=will,
                )
            )
            self.mqtt, self.trusted_mqtt = self.sessions.discovery, self.sessions.trusted
            self.router = self.sessions.router
            self.notifier = await stack.enter_async_context(
                Notifier(
                    cfg.notify,
                    site=cfg.site,
                    public_url=cfg.notify.public_url,
                    metrics=self.metrics,
                    clock=self.clock,
                )
            )
            limits = cfg.limits
            policy = TimePolicy(limits.max_future_skew_s, cfg.max_age_s, limits.stale_after_s)
            self.evidence = await stack.enter_async_context(
                make_recorder(cfg.evidence, cfg.spool.state_path, self.profiles, self.clock.time)
            )
            sessions = None
            if self.hook is not None:
                sessions = SessionLog(cfg.site, cfg.tariff, self.state, self.hook.pipeline.pop_sessions)
            self.pipeline = IngestPipeline(
                site=cfg.site,
                spool=self.spool,
                state=self.state,
                tracker=tracker,
                analytics=self.analytics,
                liveness=self.liveness,
                metrics=self.metrics,
                policy=policy,
                publish=self.sessions.publish,
                watermarks=self.hook.pipeline.last_seen if self.hook is not None else None,
                drain_max_s=cfg.liveness.drain_max_s,
                profile_dirs=[Path(d) for d in cfg.profile_dirs],
                sessions=sessions,
                notify=self._alerts_changed,
                profiles=self.profiles,
                evidence=self.evidence,
            )
            await self.pipeline.replay_alerts()
            self.rebuild = plan_rebuild(  # before any traffic: the book is restored
                cfg.evidence,
                evidence=self.evidence,
                store=self.store,
                profiles=self.profiles,
                spool=self.spool,
                state=self.state,
                metrics=self.metrics,
                clock=self.clock,
            )
            await self.pipeline.spool_sessions()  # any the checkpoint held: re-writing is an overwrite
            self.status = GatewayStatus(
                cfg,
                clock=self.clock,
                metrics=self.metrics,
                spool=self.spool,
                sessions=self.sessions,
                liveness=self.liveness,
                known=self.known,
                admission=self.admission,
                raise_alerts=self.pipeline.raise_gateway_alerts,
            )
            api = await stack.enter_async_context(
                make_api(
                    self,
                    cfg,
                    metrics=self.metrics,
                    profiles=self.profiles,
                    evidence=self.evidence,
                    events=self.events,
                    clock=self.clock,
                )
            )
            self.http_port = api.port
            if not self.notifier.public_url:  # links to the port actually bound (0 = ephemeral)
                self.notifier.public_url = f"http://127.0.0.1:{api.port}"
            self.notifier.seed(self.state.alerts(limit=10_000, open_only=True))
        except BaseException:
            await stack.aclose()
            raise
        self._done = asyncio.get_running_loop().create_future()
        for name, fn in (
            *self.sessions.loops(self._handle, self.state.dead_letter),
            ("acks", self._ack_loop),
            ("tick", self._tick_loop),
            ("status", self._status_loop),
            ("evidence-rebuild", self._rebuild),
        ):
            task = asyncio.create_task(fn(), name=f"gateway-{name}")
            task.add_done_callback(self._task_done)
            self._tasks.append(task)
        log.info(kv("gateway_started", client_id=cfg.mqtt.client_id, http_port=self.http_port))
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        tasks, self._tasks = self._tasks, []
        try:
            await cancel_and_wait(*tasks)
        except Exception as exc:  # already reported by _task_done; shutdown goes on
            log.debug(kv("gateway_task_ended_with_error", error=exc))
        if self.hook is not None:
            self.hook.save()
        try:
            self.mqtt.publish(
                topics.gateway_status_topic(self.cfg.mqtt.client_id), self.status.payload(False), True
            )
        except Exception as exc:  # the broker may be gone; the last will says the same
            log.warning(kv("gateway_offline_status_not_sent", error=exc))
        await self._stack.aclose()
        log.info(kv("gateway_stopped", client_id=self.cfg.mqtt.client_id))

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if self._done is None or self._done.done() or task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error(kv("gateway_task_failed", task=task.get_name(), error=exc))
            self._done.set_exception(exc)

    def stop(self) -> None:
        """Ask :meth:`wait` to return (signal handlers call this)."""
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def wait(self) -> None:
        """Until :meth:`stop`; re-raises the error of a failed task."""
        assert self._done is not None, "use `async with Gateway(cfg)` first"
        await self._done

    # --- tasks ---------------------------------------------------------------------------------
    async def _every(self, interval: float, fn: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval)
            await fn()

    async def _rebuild(self) -> None:
        await self.rebuild.run()

    async def _handle(self, batch: list[tuple[str, bytes, float]]) -> None:
        """One received batch: command replies to the audit trail, the rest to the pipeline."""
        replies = [item for item in batch if item[0].endswith(_REPLY_SUFFIX)]
        if replies:
            batch = [item for item in batch if not item[0].endswith(_REPLY_SUFFIX)]
            await self._audit_replies(replies)
        if batch:
            await self.pipeline.handle(batch)
            self.events.publish("ingest", {"messages": len(batch)})

    def _alerts_changed(self, alerts: Sequence[Alert]) -> None:
        """Alert changes go to the notifier and to the control room (neither blocks)."""
        self.notifier.submit(alerts)
        for a in alerts:
            self.events.publish("alert", msgspec.structs.asdict(a))

    async def _audit_replies(self, items: Sequence[tuple[str, bytes, float]]) -> None:
        """Every command reply an agent published, as a ``command`` point (the audit trail)."""
        lines: list[str] = []
        for topic, payload, received in items:
            try:
                reply = decode_reply(topic, payload)
                lines.append(reply_line(reply, self.cfg.site, received))
            except ChargeWatchError as exc:
                log.warning(kv("command_reply_invalid", topic=topic, error=exc))
                self.metrics.inc("cw_command_replies_total", result="invalid")
                continue
            log.info(kv("command_reply", device=reply.device, id=reply.id, ok=reply.ok, reason=reply.reason))
            self.metrics.inc("cw_command_replies_total", result=result_of(reply))
        if lines:
            await self.spool.append(lines, "command")

    async def _flush_acks(self) -> None:
        for ack in self.pipeline.acks.take():
            self.sessions.publish(topics.device_topic(ack.device, topics.ACK), encode(ack))
            self.metrics.inc("cw_acks_published_total")

    async def _ack_loop(self) -> None:
        await self._every(self.cfg.limits.ack_interval_s, self._flush_acks)

    async def _tick(self) -> None:
        now = self.clock.time()
        if self.mqtt.connected and self.trusted_mqtt.connected:
            self.liveness.resume(now)
        else:
            self.liveness.pause()
        await self.pipeline.tick(now)
        if self.hook is not None and now - self._checkpointed >= self.cfg.checkpoint_every_s:
            self._checkpointed = now
            # pickled here, between batches (a consistent snapshot of open sessions and
            # detectors); only the write and fsync go to a thread
            await asyncio.to_thread(self.hook.save, self.hook.pipeline.checkpoint())

    async def _tick_loop(self) -> None:
        await self._every(self.cfg.liveness.tick_s, self._tick)

    async def _status_loop(self) -> None:
        await self.status.refresh()
        await self._every(1.0, self.status.refresh)

    # --- GatewayView -----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``ok`` (HTTP 200) or ``degraded`` (503) with the reasons (:meth:`GatewayStatus.health`)."""
        return self.status.health()

    def devices(self) -> list[dict[str, Any]]:
        now = self.clock.time()
        out: list[dict[str, Any]] = []
        for device, live in sorted(self.liveness.devices.items()):
            row: dict[str, Any] = {
                "device": device,
                "online": live.online,
                "agent": live.agent,
                "last_seen_s": round(now - live.last_seen, 1) if live.last_seen else None,
            }
            msg = self.pipeline.last.get(device)
            if msg is not None:
                temps = [v for v in msg.ports.get("socket_temp", []) if v is not None]
                power = [v for v in msg.ports.get("power", []) if v is not None]
                row |= {
                    "model": msg.model,
                    "ts": msg.ts,
                    "max_socket_temp": max(temps, default=None),
                    "total_power": sum(power) if power else None,
                    "ports": msg.ports,
                    "values": msg.values,
                }
            out.append(row)
        return out

    def alerts(self, open_only: bool) -> list[dict[str, Any]]:
        return [msgspec.structs.asdict(a) for a in self.state.alerts(open_only=open_only)]

    def acknowledge(self, alert_id: str, user: str) -> dict[str, Any]:
        return msgspec.structs.asdict(self.pipeline.acknowledge(alert_id, user, self.clock.time()))

    async def send_command(
        self, device: str, point: str, value: float, port: int | None, operator: str
    ) -> dict[str, Any]:
        """Sign and publish one command (audited as ``sent``); KeyError without a signing key."""
        if self.sender is None:
            raise KeyError("this gateway has no commands.signing_key_file")
        cmd, payload = self.sender.make(device=device, point=point, value=value, port=port, operator=operator)
        await self.spool.append([sent_line(cmd, self.sender.key_id, self.cfg.site)], "command")
        self.sessions.publish(topics.device_topic(device, topics.CMD), payload)
        self.metrics.inc("cw_commands_sent_total")
        return {"id": cmd.id, "nonce": cmd.nonce, "device": device, "expires": cmd.expires}

    async def commands(self, where: Mapping[str, str], start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """The audit trail: every command sent and every reply received, oldest first."""
        rows = await self.store.series("command", AUDIT_FIELDS, where, start_ms, end_ms)
        return [{"ts": row.ts, **row.tags, **row.fields} for row in rows]

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        return [msgspec.structs.asdict(d) for d in self.state.dead_letters(limit)]

    def metrics_text(self) -> str:
        return self.metrics.render()

    async def charging_sessions(
        self, device: str | None, start_ms: int, end_ms: int, limit: int
    ) -> list[dict[str, Any]]:
        tz = ZoneInfo(self.cfg.tariff.timezone)
        return await read_sessions(
            self.store, tz, device=device, start_ms=start_ms, end_ms=end_ms, limit=limit
        )

    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.cfg.tariff.timezone)

    async def series(
        self, measurement: str, fields: Sequence[str], where: Mapping[str, str], start_ms: int, end_ms: int
    ) -> list[Row]:
        return await self.store.series(measurement, fields, where, start_ms, end_ms)

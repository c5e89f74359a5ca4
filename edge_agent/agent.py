"""The Agent: buses → decode → interlocks → outbox → (optional) MQTT link.

``async with Agent(loaded) as agent: await agent.wait_stopped()`` opens the outbox, starts the
group commit, one coordinator per bus and, when the config has an ``mqtt:`` section, the MQTT
link that drains the outbox and feeds commands to :class:`~edge_agent.commands.CommandExecutor`.
Every poll is handled in the bus task before the next one: interlocks first (a trip writes the
relay off and reads it back), then the interlock events, the telemetry and the transition
events are staged for the next group commit (one transaction per loop tick across all buses,
see :class:`~edge_agent.outbox.GroupCommit`). Nothing on this path waits for the network or
for an fsync: the outbox lives on its own writer thread (:class:`~edge_agent.outbox.OutboxWriter`)
and the loop never makes a SQLite call.

One :class:`~edge_agent.health.Health` collects poll success and latency from every bus and
publish/ack figures from the link; it rides in the retained status and, with ``health_file``,
is written to that file every ``health_interval_s``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from contextlib import AsyncExitStack
from pathlib import Path

from chargewatch.clock import Clock, SystemClock
from chargewatch.logs import kv
from chargewatch.messages import EventKind
from chargewatch.signals import StopSignals
from chargewatch.tasks import cancel_and_wait
from edge_agent.command_auth import CommandAuth
from edge_agent.commands import CommandExecutor
from edge_agent.config import LoadedConfig
from edge_agent.health import Health
from edge_agent.interlocks import RELAY_POINT, DeviceInterlocks, Trip
from edge_agent.modbus.coordinator import BusCoordinator, PolledDevice
from edge_agent.modbus.decode import Decoded
from edge_agent.modbus.errors import ModbusError
from edge_agent.modbus.transitions import TransitionTracker
from edge_agent.mqtt import MqttLink
from edge_agent.outbox import GroupCommit, Outbox, OutboxWriter

log = logging.getLogger(__name__)

EventData = dict[str, float | str | bool | None]


class Agent:
    """Async context manager owning the outbox, the bus coordinators and the optional link."""

    def __init__(
        self, loaded: LoadedConfig, *, clock: Clock | None = None, rng: random.Random | None = None
    ) -> None:
        self.loaded = loaded
        self.cfg = loaded.agent
        self._clock = clock or SystemClock()
        self._rng = rng
        self.outbox = Outbox(self.cfg.outbox, clock=self._clock.time)
        self.store = OutboxWriter(self.outbox)
        self.health = Health(self._clock)
        self.group = GroupCommit(self.store, self._fail)
        self.buses: dict[str, BusCoordinator] = {}
        self.commands: CommandExecutor | None = None
        self.link: MqttLink | None = None
        self._interlocks: dict[str, DeviceInterlocks] = {}
        self._transitions: dict[str, TransitionTracker] = {}
        self._stack = AsyncExitStack()
        self._stopped = asyncio.Event()
        self._failure: BaseException | None = None
        self.trips = 0

    async def __aenter__(self) -> Agent:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.store)
            await stack.enter_async_context(self.group)
            for bus_cfg in self.cfg.buses:
                coordinator = BusCoordinator(
                    bus_cfg,
                    self.loaded.profiles,
                    self._on_poll,
                    self._on_status,
                    clock=self._clock,
                    health=self.health,
                )
                for dev in bus_cfg.devices:
                    profile = self.loaded.profiles[dev.model]
                    self._interlocks[dev.id] = DeviceInterlocks(self.cfg.interlocks, profile)
                    self._transitions[dev.id] = TransitionTracker(profile)
                self.buses[bus_cfg.name] = await stack.enter_async_context(coordinator)
            self.commands = CommandExecutor(self.cfg.commands, self.buses, self._clock)
            if self.cfg.mqtt is not None:
                devices = [d.id for b in self.cfg.buses for d in b.devices]
                link = MqttLink(
                    self.cfg.mqtt,
                    self.store,
                    agent=self.cfg.agent_id,
                    devices=devices,
                    on_command=self.commands.handle,
                    command_auth=CommandAuth(
                        self.loaded.keys,
                        self._clock,
                        max_validity=self.cfg.commands.max_validity_s,
                        max_skew=self.cfg.commands.max_clock_skew_s,
                    ),
                    health=self.health,
                    clock=self._clock,
                    rng=self._rng,
                )
                self.link = await stack.enter_async_context(link)
            if self.cfg.health_file is not None:
                task = asyncio.create_task(self._health_loop(Path(self.cfg.health_file)), name="agent-health")
                stack.push_async_callback(cancel_and_wait, task)
            log.info(
                kv("agent_started", agent=self.cfg.agent_id, boot=self.outbox.boot, buses=len(self.buses))
            )
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        log.info(kv("agent_stopped", agent=self.cfg.agent_id))

    def stop(self) -> None:
        """Ask :meth:`wait_stopped` to return (safe from a signal handler)."""
        self._stopped.set()

    async def wait_stopped(self) -> None:
        """Block until :meth:`stop` (a signal handler calls it: :class:`chargewatch.signals.StopSignals`).

        Raises the outbox's error if the group commit failed (the agent cannot keep its promise).
        """
        await self._stopped.wait()
        if self._failure is not None:
            raise self._failure

    async def refresh_health(self) -> dict[str, float]:
        """Update the outbox figures of :attr:`health` and return its snapshot."""
        ob = self.outbox
        oldest = await self.store.run(lambda: ob.oldest_age(self._clock.time()))
        self.health.set_outbox(ob.depth(), oldest, ob.dropped_total)
        return self.health.snapshot()

    def _fail(self, exc: BaseException) -> None:
        self._failure = exc
        self._stopped.set()

    async def _health_loop(self, path: Path) -> None:
        while True:
            await self.refresh_health()
            self.health.write_json(path)
            await asyncio.sleep(self.cfg.health_interval_s)

    def _bus_of(self, device: str) -> BusCoordinator:
        return next(b for b in self.buses.values() if device in b.devices)

    async def _on_poll(self, dev: PolledDevice, ts: float, d: Decoded) -> None:
        device = dev.cfg.id
        for trip in self._interlocks[device].evaluate(d):
            await self._trip(dev, ts, trip)
            d.ports[RELAY_POINT][trip.port] = 0.0
        events = self._transitions[device].update(d)
        model, ports, values, flags = dev.profile.model, d.ports, d.values, d.flags
        box = self.outbox
        self.group.stage(lambda: box.add_telemetry(device, ts, model, ports, values, flags))
        for ev in events:
            self._stage_event(device, ts, ev.kind, ev.port, ev.data)

    def _stage_event(
        self, device: str, ts: float, kind: EventKind, port: int | None, data: EventData
    ) -> None:
        box = self.outbox
        self.group.stage(lambda: box.add_event(device, ts, kind, port, data))

    async def _trip(self, dev: PolledDevice, ts: float, trip: Trip) -> None:
        device = dev.cfg.id
        self.trips += 1
        data: EventData = {"rule": trip.rule, "value": trip.value, "limit": trip.limit}
        try:
            await self._bus_of(device).write_point(device, RELAY_POINT, trip.port, 0.0)
            data["verified"] = True
            log.warning(kv("interlock_trip", device=device, port=trip.port, rule=trip.rule, value=trip.value))
        except ModbusError as exc:
            data["verified"] = False
            data["error"] = str(exc)[:200]
            log.error(  # noqa: TRY400 -- the typed error's message names device and address
                kv("interlock_failed", device=device, port=trip.port, rule=trip.rule, error=exc)
            )
        self._stage_event(device, ts, "interlock", trip.port, data)

    async def _on_status(self, dev: PolledDevice, ts: float, up: bool, reason: str) -> None:
        data: EventData = {"reason": reason[:200], "unit": float(dev.cfg.unit)}
        self._stage_event(dev.cfg.id, ts, "device_up" if up else "device_down", None, data)


async def run_agent(loaded: LoadedConfig) -> None:
    """Run until SIGINT/SIGTERM; every task is cancelled and awaited on the way out."""
    with StopSignals() as sigs:
        async with Agent(loaded) as agent:
            sigs.attach(agent.stop)
            await agent.wait_stopped()

"""The Agent: buses → decode → interlocks → outbox → (optional) MQTT link.

``async with Agent(loaded) as agent: await agent.wait_stopped()`` opens the outbox, starts one
coordinator per bus and, when the config has an ``mqtt:`` section, the MQTT link that drains the outbox
and feeds commands to :class:`~edge_agent.commands.CommandHandler`. Every poll is handled in
the bus task before the next one: interlocks first (a trip writes the relay off and reads it
back, then an ``interlock`` event is committed), then the telemetry and transition events are
committed in one outbox transaction. Nothing on this path waits for the network.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from chargewatch.clock import Clock, SystemClock
from chargewatch.logs import kv
from edge_agent.commands import CommandHandler
from edge_agent.config import LoadedConfig
from edge_agent.interlocks import RELAY_POINT, DeviceInterlocks, Trip
from edge_agent.modbus.coordinator import BusCoordinator, PolledDevice
from edge_agent.modbus.decode import Decoded
from edge_agent.modbus.errors import ModbusError
from edge_agent.modbus.transitions import TransitionTracker
from edge_agent.mqtt import MqttLink
from edge_agent.outbox import Outbox

log = logging.getLogger(__name__)


class Agent:
    """Async context manager owning the outbox, the bus coordinators and the optional link."""

    def __init__(self, loaded: LoadedConfig, *, clock: Clock | None = None) -> None:
        self.loaded = loaded
        self.cfg = loaded.agent
        self._clock = clock or SystemClock()
        self.outbox = Outbox(self.cfg.outbox)
        self.buses: dict[str, BusCoordinator] = {}
        self.commands: CommandHandler | None = None
        self.link: MqttLink | None = None
        self._interlocks: dict[str, DeviceInterlocks] = {}
        self._transitions: dict[str, TransitionTracker] = {}
        self._stack = AsyncExitStack()
        self._stopped = asyncio.Event()
        self.trips = 0

    async def __aenter__(self) -> Agent:
        async with AsyncExitStack() as stack:
            self.outbox.open()
            stack.callback(self.outbox.close)
            for bus_cfg in self.cfg.buses:
                coordinator = BusCoordinator(
                    bus_cfg, self.loaded.profiles, self._on_poll, self._on_status, clock=self._clock
                )
                for dev in bus_cfg.devices:
                    profile = self.loaded.profiles[dev.model]
                    self._interlocks[dev.id] = DeviceInterlocks(self.cfg.interlocks, profile)
                    self._transitions[dev.id] = TransitionTracker(profile)
                self.buses[bus_cfg.name] = await stack.enter_async_context(coordinator)
            self.commands = CommandHandler(self.cfg.commands, self.buses, self._clock)
            if self.cfg.mqtt is not None:
                devices = [d.id for b in self.cfg.buses for d in b.devices]
                link = MqttLink(
                    self.cfg.mqtt,
                    self.outbox,
                    agent=self.cfg.agent_id,
                    devices=devices,
                    on_command=self.commands.handle,
                    clock=self._clock,
                )
                self.link = await stack.enter_async_context(link)
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

    async def wait_stopped(self, handle_signals: bool = True) -> None:
        """Block until :meth:`stop` or, with ``handle_signals``, SIGINT/SIGTERM."""
        loop = asyncio.get_running_loop()
        sigs = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
        for sig in sigs:
            loop.add_signal_handler(sig, self.stop)
        try:
            await self._stopped.wait()
        finally:
            for sig in sigs:
                loop.remove_signal_handler(sig)

    def _bus_of(self, device: str) -> BusCoordinator:
        return next(b for b in self.buses.values() if device in b.devices)

    async def _on_poll(self, dev: PolledDevice, ts: float, d: Decoded) -> None:
        device = dev.cfg.id
        for trip in self._interlocks[device].evaluate(d):
            await self._trip(dev, ts, trip)
            d.ports[RELAY_POINT][trip.port] = 0.0
        events = self._transitions[device].update(d)
        with self.outbox.transaction():
            self.outbox.add_telemetry(device, ts, dev.profile.model, d.ports, d.values, d.flags)
            for ev in events:
                self.outbox.add_event(device, ts, ev.kind, ev.port, ev.data)

    async def _trip(self, dev: PolledDevice, ts: float, trip: Trip) -> None:
        device = dev.cfg.id
        self.trips += 1
        data: dict[str, float | str | bool | None] = {
            "rule": trip.rule,
            "value": trip.value,
            "limit": trip.limit,
        }
        try:
            await self._bus_of(device).write_point(device, RELAY_POINT, trip.port, 0.0)
            data["verified"] = True
            log.warning(kv("interlock_trip", device=device, port=trip.port, rule=trip.rule, value=trip.value))
        except ModbusError as exc:
            data["verified"] = False
            data["error"] = str(exc)[:200]
        if not data["verified"]:
            log.error(
                kv("interlock_failed", device=device, port=trip.port, rule=trip.rule, error=data["error"])
            )
        self.outbox.add_event(device, ts, "interlock", trip.port, data)

    async def _on_status(self, dev: PolledDevice, ts: float, up: bool, reason: str) -> None:
        data: dict[str, float | str | bool | None] = {"reason": reason[:200], "unit": float(dev.cfg.unit)}
        self.outbox.add_event(dev.cfg.id, ts, "device_up" if up else "device_down", None, data)


async def run_agent(loaded: LoadedConfig) -> None:
    """Run until SIGINT/SIGTERM; every task is cancelled and awaited on the way out."""
    async with Agent(loaded) as agent:
        await agent.wait_stopped()

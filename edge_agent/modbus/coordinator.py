"""One coordinator per bus: schedules device polls, tracks availability, routes writes.

A device that stops answering is marked unavailable after ``down_after`` failed polls and
is then probed only once per backoff delay (capped exponential with jitter), with a single
attempt, so the other devices on its line keep their rhythm. Going down and coming back are
logged once each and reported through ``on_status``. Every poll result goes to ``on_poll``,
which the coordinator awaits before the next poll, so local interlocks act within one poll.
With a :class:`~edge_agent.health.Health`, each device poll reports success and its latency
(all blocks of the device, retries included) or failure there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chargewatch.clock import Clock, SystemClock
from chargewatch.logs import kv
from chargewatch.profiles import DeviceProfile
from chargewatch.retry import Backoff, Retrying
from edge_agent.config import BusConfig, DeviceConfig
from edge_agent.health import Health
from edge_agent.modbus.bus import BusClient
from edge_agent.modbus.decode import Decoded, DeviceDecoder
from edge_agent.modbus.errors import (
    BusUnavailableError,
    DeviceRefusedError,
    DeviceTimeoutError,
    ModbusError,
    ResponseMismatchError,
    WriteNotVerifiedError,
)
from edge_agent.modbus.planner import plan_blocks

log = logging.getLogger(__name__)


@dataclass(eq=False)
class PolledDevice:
    """Runtime state of one device on the bus."""

    cfg: DeviceConfig
    profile: DeviceProfile
    decoder: DeviceDecoder
    available: bool = True
    failures: int = 0
    probes: Retrying | None = None
    next_due: float = 0.0
    last_ts: float = 0.0
    polls: int = field(default=0)


OnPoll = Callable[[PolledDevice, float, Decoded], Awaitable[None]]
OnStatus = Callable[[PolledDevice, float, bool, str], Awaitable[None]]


class BusCoordinator:
    """Async context manager polling every device of one bus in one named task."""

    def __init__(
        self,
        cfg: BusConfig,
        profiles: dict[str, DeviceProfile],
        on_poll: OnPoll,
        on_status: OnStatus,
        *,
        clock: Clock | None = None,
        client: BusClient | None = None,
        health: Health | None = None,
    ) -> None:
        self.cfg = cfg
        self.health = health
        self.client = client or BusClient(cfg)
        self._clock = clock or SystemClock()
        self._on_poll = on_poll
        self._on_status = on_status
        self._backoff = Backoff(initial=cfg.backoff_initial_s, cap=cfg.backoff_cap_s)
        self._bus_retry = self._backoff.start(self._clock.monotonic)
        decoders: dict[str, DeviceDecoder] = {}
        for d in cfg.devices:
            if d.model not in decoders:
                prof = profiles[d.model]
                decoders[d.model] = DeviceDecoder(prof, plan_blocks(prof, cfg.max_gap))
        self.devices = {d.id: PolledDevice(d, profiles[d.model], decoders[d.model]) for d in cfg.devices}
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._bus_up = True

    async def __aenter__(self) -> BusCoordinator:
        await self.client.__aenter__()
        self._task = asyncio.create_task(self._run(), name=f"bus:{self.cfg.name}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            # pymodbus awaits through asyncio.wait_for, which on 3.11 can swallow a cancel that
            # races a response; cancel again until the task is really done.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            if not task.cancelled() and task.exception() is not None:
                log.error(kv("bus_task_failed", bus=self.cfg.name, error=task.exception()))
        await self.client.__aexit__(None, None, None)

    async def _run(self) -> None:
        now = self._clock.monotonic()
        for dev in self.devices.values():
            dev.next_due = now
        while not self._closing:
            dev = min(self.devices.values(), key=lambda d: d.next_due)
            wait = dev.next_due - self._clock.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self._poll(dev)
            except BusUnavailableError as exc:
                delay = self._bus_retry.failed(exc)
                if self._bus_up:
                    self._bus_up = False
                    log.warning(kv("bus_down", bus=self.cfg.name, error=exc.detail, retry_s=round(delay, 2)))
                self.client.close()
                resume = self._clock.monotonic() + delay
                for other in self.devices.values():
                    other.next_due = max(other.next_due, resume)
                continue
            if not self._bus_up:
                self._bus_up = True
                self._bus_retry.succeeded()
                log.info(kv("bus_up", bus=self.cfg.name))

    async def _read(self, dev: PolledDevice, index: int) -> list[int]:
        block = dev.decoder.blocks[index]
        tries = self.cfg.retries + 1 if dev.available else 1
        for attempt in range(tries):
            try:
                return await self.client.request(dev.cfg.unit, block.table, block.address, block.count)
            except (DeviceTimeoutError, ResponseMismatchError):
                if attempt + 1 == tries:
                    raise
        raise AssertionError("unreachable: the loop returns or raises")

    async def _poll(self, dev: PolledDevice) -> None:
        ts = max(self._clock.time(), dev.last_ts)
        started = self._clock.monotonic()
        data: list[list[int] | None] = []
        answered = False
        error: ModbusError | None = None
        for i in range(len(dev.decoder.blocks)):
            if error is not None and not answered:
                data.append(None)
                continue
            try:
                data.append(await self._read(dev, i))
                answered = True
            except (DeviceTimeoutError, ResponseMismatchError, DeviceRefusedError) as exc:
                error = exc
                data.append(None)
        dev.next_due = max(dev.next_due + dev.cfg.poll_s, started)
        if self.health is not None:
            if answered:
                self.health.poll_ok(self._clock.monotonic() - started)
            else:
                self.health.poll_failed()
        if not answered:
            await self._failed(dev, ts, error)
            return
        dev.failures = 0
        dev.probes = None
        if not dev.available:
            dev.available = True
            log.info(kv("device_up", bus=self.cfg.name, device=dev.cfg.id, unit=dev.cfg.unit))
            await self._on_status(dev, ts, True, "answering again")
        dev.last_ts = ts
        dev.polls += 1
        await self._on_poll(dev, ts, dev.decoder.decode(data))

    async def _failed(self, dev: PolledDevice, ts: float, error: ModbusError | None) -> None:
        dev.failures += 1
        reason = error.detail if error is not None else "no blocks"
        if dev.available and dev.failures >= self.cfg.down_after:
            dev.available = False
            log.warning(
                kv("device_down", bus=self.cfg.name, device=dev.cfg.id, unit=dev.cfg.unit, error=reason)
            )
            await self._on_status(dev, ts, False, reason)
        if not dev.available:
            if dev.probes is None:
                dev.probes = self._backoff.start(self._clock.monotonic)
            delay = dev.probes.next_delay()
            assert delay is not None, "the probe policy is unbounded"
            dev.next_due = self._clock.monotonic() + delay

    async def write_point(self, device: str, name: str, port: int | None, value: float) -> float:
        """Write one point through the bus lock, read it back, return the value read.

        Raises ModbusError subclasses; WriteNotVerifiedError when the read-back differs.
        """
        dev = self.devices[device]
        point = dev.profile.point(name)
        address = point.address_of(port)
        raw = point.encode(value)
        unit = dev.cfg.unit
        for attempt in range(self.cfg.retries + 1):
            try:
                await self.client.request(unit, point.table, address, point.width, write=raw)
                break
            except DeviceTimeoutError:
                if attempt == self.cfg.retries:
                    raise
        regs = await self.client.request(unit, point.table, address, point.width)
        readback = point.decode(regs)
        if abs(readback - value) > abs(point.scale) / 2:
            raise WriteNotVerifiedError(
                self.cfg.name, unit, f"wrote {value} to {name}, read back {readback}", point.table, address
            )
        return readback

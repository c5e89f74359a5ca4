"""The site runner: builds every device of a site, serves it, and drives the simulation clock.

Simulated time moves in fixed steps (``dt`` = 1 s by default) whatever the speed, so the
same seed and scenario give the same samples at speed 1, at speed 50, or stepped by hand.
With ``speed=None`` the clock is paused and tests call :meth:`SiteRunner.advance`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from chargewatch.clock import Clock, SystemClock
from chargewatch.errors import ConfigError
from chargewatch.logs import kv
from chargewatch.profiles import DeviceProfile
from chargewatch.tasks import cancel_and_wait
from firmware_sim.faults import Fault, FaultError, Label, LabelWriter, Scenario
from firmware_sim.model import DeviceModel
from firmware_sim.registers import RegisterImage
from firmware_sim.server import ModbusBus, ServedDevice, Transport
from firmware_sim.site import Site

log = logging.getLogger(__name__)

#: ``create_device(device_id, profile, params, seed, start_time) -> DeviceModel``
DeviceFactory = Callable[[str, DeviceProfile, Mapping[str, object], int, float], DeviceModel]
#: called after every step with the simulation time the devices were advanced to
StepObserver = Callable[[float], None]

_MAX_CATCH_UP = 50  # steps run back to back before yielding to the servers
_LAG_S = 2.0  # wall seconds behind schedule that count as lagging


@runtime_checkable
class FaultableModel(Protocol):
    """A model that takes injected faults and reports ground-truth labels (the physics' models do)."""

    def inject(self, fault: Fault) -> None: ...

    def drain_labels(self) -> list[Label]: ...


def scenario_faults(scenario: Scenario, site: Site, path: Path | str) -> list[tuple[str, Fault]]:
    """(device id, fault) for every fault of ``scenario``, onsets counted from the site's start.

    The scenario's devices must exist in the site with the same model; ConfigError otherwise.
    """
    models = {d.id: d.model for bus in site.buses for d in bus.devices}
    scenario_models = {d.id: d.model for d in scenario.devices}
    out: list[tuple[str, Fault]] = []
    for i, spec in enumerate(scenario.faults):
        want = scenario_models.get(spec.device)
        if models.get(spec.device) is None or want != models[spec.device]:
            raise ConfigError(
                f"{path}: faults[{i}].device: {spec.device!r} ({want}) is not a device of site "
                f"{site.spec.site} with that model. Fix: use one of {sorted(models)} with its model"
            )
        out.append((spec.device, spec.fault(site.start_time)))
    return out


def device_seed(site_seed: int, device_id: str) -> int:
    """A stable per-device seed: same site seed and id → same device randomness."""
    return zlib.crc32(f"{site_seed}:{device_id}".encode())


def default_factory() -> DeviceFactory:
    """The physics package's ``create_device`` (imported late: it is a separate component)."""
    from firmware_sim.devices import create_device  # noqa: PLC0415 - keep serving importable alone

    return create_device


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one device answers; printed by ``chargewatch sim`` as one JSON line."""

    device: str
    model: str
    transport: Transport
    unit: int
    host: str = ""
    port: int = 0
    serial: str = ""

    def to_json(self) -> dict[str, Any]:
        """The fields that apply to this transport."""
        out: dict[str, Any] = {"device": self.device, "model": self.model, "transport": self.transport}
        if self.transport == "rtu":
            out["serial"] = self.serial
        else:
            out["host"], out["port"] = self.host, self.port
        out["unit"] = self.unit
        return out


class SiteRunner:
    """Owns the device models, their buses and the clock task of one site."""

    def __init__(
        self,
        site: Site,
        *,
        speed: float | None = 1.0,
        seed: int | None = None,
        dt: float = 1.0,
        factory: DeviceFactory | None = None,
        on_step: StepObserver | None = None,
        clock: Clock | None = None,
        faults: Sequence[tuple[str, Fault]] = (),
        labels: Path | None = None,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be > 0 (or None for manual stepping), got {speed}")
        if dt <= 0:
            raise ValueError(f"dt must be > 0, got {dt}")
        self.site = site
        self.speed = speed
        self.seed = site.spec.seed if seed is None else seed
        self.dt = dt
        self._factory = factory
        self._on_step = on_step
        self._clock = clock or SystemClock()
        self._steps = 0
        self.devices: dict[str, ServedDevice] = {}
        self._buses: list[ModbusBus] = []
        self._muted: set[str] = set()
        self._stack = contextlib.AsyncExitStack()
        self._task: asyncio.Task[None] | None = None
        self._faults = list(faults)
        self._labels_path = labels
        self._label_writer: LabelWriter | None = None
        self._faultable: dict[str, FaultableModel] = {}

    @property
    def time(self) -> float:
        """Current simulation time (epoch seconds)."""
        return self.site.start_time + self._steps * self.dt

    @property
    def steps(self) -> int:
        """Steps taken since start."""
        return self._steps

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every device's endpoint, in site-file order of buses."""
        out: list[Endpoint] = []
        for bus in self._buses:
            spec = bus.spec
            for unit, served in bus.units.items():
                out.append(
                    Endpoint(
                        device=served.image.device_id,
                        model=served.image.profile.model,
                        transport=spec.transport,
                        unit=unit,
                        host=spec.host if spec.transport != "rtu" else "",
                        port=bus.port,
                        serial=spec.serial,
                    )
                )
        return out

    def _build(self) -> None:
        factory = self._factory or default_factory()
        start = self.site.start_time
        for bus in self.site.buses:
            units: dict[int, ServedDevice] = {}
            for dev in bus.devices:
                profile = self.site.profiles[dev.model]
                params: dict[str, object] = dict(dev.params)
                if profile.kind == "pile":
                    params.setdefault("ambient", self.site.spec.ambient)
                model = factory(dev.id, profile, params, device_seed(self.seed, dev.id), start)
                if isinstance(model, FaultableModel):
                    self._faultable[dev.id] = model
                served = ServedDevice(model, RegisterImage(dev.id, profile), dev.unit)
                served.refresh()
                units[dev.unit] = served
                self.devices[dev.id] = served
            self._buses.append(ModbusBus(bus.spec, units))
        for device_id, fault in self._faults:
            target = self._faultable.get(device_id)
            if target is None:
                raise ConfigError(f"device {device_id}: its model takes no faults. Fix: remove its faults")
            try:
                target.inject(fault)
            except FaultError as exc:
                raise ConfigError(f"{exc}. Fix: correct the scenario's fault for {device_id}") from exc

    async def __aenter__(self) -> Self:
        self._build()
        try:
            if self._labels_path is not None:
                self._label_writer = self._stack.enter_context(LabelWriter(self._labels_path))
            for bus in self._buses:
                await self._stack.enter_async_context(bus)
            if self.speed is not None:
                self._task = asyncio.create_task(
                    self._run(self.speed), name=f"sim-clock-{self.site.spec.site}"
                )
        except BaseException:
            await self._stack.aclose()
            raise
        log.info(
            kv(
                "site_started",
                site=self.site.spec.site,
                devices=len(self.devices),
                speed=self.speed or "manual",
            )
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task, self._task = self._task, None
        try:
            await cancel_and_wait(task)
        finally:
            await self._stack.aclose()
            log.info(kv("site_stopped", site=self.site.spec.site, steps=self._steps))

    async def wait(self, stop: asyncio.Event) -> None:
        """Return once ``stop`` is set; raise at once if the clock task fails first."""
        waiter = asyncio.create_task(stop.wait(), name="sim-stop-wait")
        watched: set[asyncio.Task[Any]] = {waiter} if self._task is None else {waiter, self._task}
        try:
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(waiter)
        if self._task is not None and self._task in done:
            self._task.result()

    def advance(self, steps: int = 1) -> None:
        """Take ``steps`` fixed steps now (manual clock only)."""
        if self.speed is not None:
            raise RuntimeError("advance() is for a paused clock; create the runner with speed=None")
        for _ in range(steps):
            self._step()

    def _step(self) -> None:
        t = self.site.start_time + (self._steps + 1) * self.dt
        for device_id, served in self.devices.items():
            served.model.step(t, self.dt)
            served.refresh()
            self._note_responding(device_id, served.model.responding, t)
        self._steps += 1
        self._collect_labels()
        if self._on_step is not None:
            self._on_step(t)

    def _collect_labels(self) -> None:
        for model in self._faultable.values():
            labels = model.drain_labels()
            if not labels:
                continue
            for lb in labels:
                log.info(
                    kv("fault_label", device=lb.device, port=lb.port, kind=lb.kind, phase=lb.event, t=lb.t)
                )
            if self._label_writer is not None:
                self._label_writer.write(labels)

    def _note_responding(self, device_id: str, responding: bool, t: float) -> None:
        if responding == (device_id not in self._muted):
            return
        if responding:
            self._muted.discard(device_id)
            log.info(kv("device_answering", device=device_id, t=t))
        else:
            self._muted.add(device_id)
            log.info(kv("device_silent", device=device_id, t=t))

    async def _run(self, speed: float) -> None:
        """Keep simulated time at ``speed`` × wall time, catching up in bounded bursts."""
        wall0 = self._clock.monotonic()
        step0 = self._steps
        lagging = False
        while True:
            due = step0 + int((self._clock.monotonic() - wall0) * speed / self.dt)
            burst = min(due - self._steps, _MAX_CATCH_UP)
            for _ in range(burst):
                self._step()
            behind_s = (due - self._steps) * self.dt / speed
            if (behind_s > _LAG_S) != lagging:
                lagging = not lagging
                log.warning(kv("sim_lagging" if lagging else "sim_caught_up", behind_s=round(behind_s, 2)))
            next_wall = wall0 + (self._steps - step0 + 1) * self.dt / speed
            await asyncio.sleep(max(0.0, next_wall - self._clock.monotonic()))

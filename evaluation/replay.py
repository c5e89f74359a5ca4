"""Replay a labelled simulator scenario as the messages the gateway would receive.

At every poll (each ``poll_s``) each responding device is read the way the edge agent reads
it: the model's engineering values and raw sensor overrides are encoded into the device's
register image (:class:`firmware_sim.registers.RegisterImage`), the blocks the agent plans
(:func:`edge_agent.modbus.plan_blocks`) are read from it and decoded by the agent's own
:class:`edge_agent.modbus.DeviceDecoder` (per-port columns, canonical state codes, ``None`` +
``flags`` for implausible values), and the agent's :class:`TransitionTracker` derives the
events (session ends …). Only the points the analytics reads (:data:`READ_POINTS`) are encoded
and decoded: the others cannot change the pipeline's input and would triple the cost. The
devices step every ``step_s`` of the scenario (1 s, so firmware confirm timers and
single-second current spikes stay as designed). A device that stops answering yields no
telemetry; after ``DOWN_AFTER`` missed polls a ``device_down`` event is sent, and
``device_up`` when it answers again, as the agent's bus coordinator does. The agent's local
interlocks are not simulated; the pile firmware's own cut (``temp_cut_c``) still acts.
Ground-truth labels are collected on the side and never reach the pipeline.
``meter_error`` makes every pile's energy meters read that much high (0.02: 2 % high; see
:mod:`firmware_sim.devices.instruments`), as a real site's uncalibrated meters do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec

from chargewatch.messages import Event, EventKind, Telemetry
from chargewatch.profiles import find_profile
from edge_agent.modbus import DeviceDecoder, TransitionTracker, plan_blocks
from firmware_sim import RegisterImage
from firmware_sim.devices import Blocker, Pile
from firmware_sim.faults import Label, Scenario
from firmware_sim.offline import build_devices

#: missed polls before the agent reports ``device_down`` (the agent's default ``down_after``)
DOWN_AFTER = 2
#: the points the analytics and the agent's event derivation read
READ_POINTS = frozenset(
    {
        "state", "voltage", "current", "power", "socket_temp", "energy", "fault_code", "ambient_temp",
        "smoke_alarm",
        "detections", "hold_s", "camera_fault_code", "releases", "door_hold", "camera_online",
        "relay_closed", "ebike_present",
    }
)  # fmt: skip
EventValue = float | str | bool | None


@dataclass(slots=True)
class _Polled:
    device: Pile | Blocker
    image: RegisterImage
    decoder: DeviceDecoder
    transitions: TransitionTracker
    seq: int = 0
    failures: int = 0
    up: bool = True


@dataclass(slots=True)
class Round:
    """One poll round at ``ts``: the telemetry and events of every device, in agent order."""

    ts: float
    telemetry: list[Telemetry] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class Replay:
    """A scenario being replayed; iterate :meth:`rounds`, then read ``labels`` and ``ports``."""

    scenario: Scenario
    seed: int
    poll_s: float
    #: relative error of every pile's energy meters
    meter_error: float = 0.0
    labels: list[Label] = field(default_factory=list)
    #: ports per pile device id (for port-hours)
    ports: dict[str, int] = field(default_factory=dict)

    def rounds(self) -> Iterator[Round]:
        """Step every device, poll it every ``poll_s``; one :class:`Round` per poll."""
        scenario = with_meter_error(self.scenario, self.meter_error)
        polled = [_poll_state(dev) for dev in build_devices(scenario, self.seed).values()]
        self.ports = {p.device.device_id: p.image.profile.ports for p in polled if isinstance(p.device, Pile)}
        dt = scenario.step_s
        every = max(round(self.poll_s / dt), 1)
        steps = round(scenario.duration_s / dt)
        for k in range(1, steps + 1):
            t = scenario.start_time + k * dt
            for p in polled:
                p.device.step(t, dt)
                labels = p.device.drain_labels()
                if labels:
                    self.labels += labels
            if k % every == 0:
                out = Round(t)
                for p in polled:
                    _poll(p, t, out)
                yield out


def with_meter_error(scenario: Scenario, error: float) -> Scenario:
    """``scenario`` with every pile's energy meters reading ``error`` high (unchanged at 0)."""
    if not error:
        return scenario
    devices = [
        msgspec.structs.replace(d, params={**d.params, "meter_gain_error": error})
        if find_profile(d.model).kind == "pile"
        else d
        for d in scenario.devices
    ]
    return msgspec.structs.replace(scenario, devices=devices)


def _poll_state(device: Pile | Blocker) -> _Polled:
    full = device.profile
    profile = msgspec.structs.replace(full, points=[p for p in full.points if p.name in READ_POINTS])
    return _Polled(
        device,
        RegisterImage(device.device_id, profile),
        DeviceDecoder(profile, plan_blocks(profile)),
        TransitionTracker(profile),
    )


def _event(p: _Polled, t: float, kind: EventKind, port: int | None, data: dict[str, EventValue]) -> Event:
    p.seq += 1
    return Event(device=p.device.device_id, boot=1, seq=p.seq, ts=t, kind=kind, port=port, data=data)


def _poll(p: _Polled, t: float, out: Round) -> None:
    device = p.device
    if not device.responding:
        p.failures += 1
        if p.up and p.failures >= DOWN_AFTER:
            p.up = False
            out.events.append(_event(p, t, "device_down", None, {"reason": "timeout"}))
        return
    p.failures = 0
    if not p.up:
        p.up = True
        out.events.append(_event(p, t, "device_up", None, {"reason": "answering"}))
    image = p.image
    overrides = {k: v for k, v in device.raw_overrides().items() if k[0] in READ_POINTS}
    image.refresh(device.read_points(), overrides)
    decoded = p.decoder.decode([image.read(b.table, b.address, b.count) for b in p.decoder.blocks])
    for ev in p.transitions.update(decoded):
        out.events.append(_event(p, t, ev.kind, ev.port, ev.data))
    p.seq += 1
    out.telemetry.append(
        Telemetry(
            device=device.device_id,
            boot=1,
            seq=p.seq,
            ts=t,
            model=image.profile.model,
            ports=decoded.ports,
            values=decoded.values,
            flags=decoded.flags,
        )
    )

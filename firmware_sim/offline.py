"""Run devices and a scenario with no Modbus, as fast as the CPU allows.

Used by the analytics evaluation and by determinism tests: ``run`` yields
``(t, device_id, read_points())`` for every responding device after every step (a device
that is not responding yields nothing, as on a real bus); labels go to ``label_sink``.
``suite(seed)`` builds the labelled evaluation suite: every fault kind several times on
both pile models, every chemistry, and normal hot summer days.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from chargewatch.errors import ConfigError
from chargewatch.profiles import find_profile
from firmware_sim.devices import Blocker, Pile, create_device
from firmware_sim.faults.kinds import KINDS, FaultError, Label
from firmware_sim.faults.scenario import DeviceSpec, FaultSpec, Scenario, validate_scenario
from firmware_sim.model import PointValues
from firmware_sim.physics.ambient import AmbientPreset
from firmware_sim.physics.charger import CHEMISTRIES

Sample = tuple[float, str, PointValues]
LabelSink = Callable[[list[Label]], None]
#: 2025-07-15 00:00 at UTC+8: a summer day, local midnight
SUMMER_MIDNIGHT = 1_752_508_800.0
_PILE_MODELS = ("cw-pile-10", "vx-pile-12")


def build_devices(scenario: Scenario, seed: int, search: Sequence[Path] = ()) -> dict[str, Pile | Blocker]:
    """Every device of ``scenario`` with its faults injected; ConfigError names the device."""
    devices: dict[str, Pile | Blocker] = {}
    for spec in scenario.devices:
        profile = find_profile(spec.model, search)
        params = dict(spec.params)
        if profile.kind == "pile":
            params.setdefault("ambient", scenario.ambient)
        devices[spec.id] = create_device(spec.id, profile, params, seed, scenario.start_time)
    for i, fault in enumerate(scenario.faults):
        try:
            devices[fault.device].inject(fault.fault(scenario.start_time))
        except (KeyError, FaultError) as exc:
            raise ConfigError(f"scenario {scenario.name}: faults[{i}]: {exc}") from exc
    return devices


def run(
    scenario: Scenario,
    seed: int,
    *,
    label_sink: LabelSink | None = None,
    search: Sequence[Path] = (),
) -> Iterator[Sample]:
    """Step every device through the scenario; yield each responding device's points per step."""
    devices = list(build_devices(scenario, seed, search).items())
    dt = scenario.step_s
    steps = round(scenario.duration_s / dt)
    for k in range(1, steps + 1):
        t = scenario.start_time + k * dt
        for device_id, device in devices:
            device.step(t, dt)
            if label_sink is not None:
                labels = device.drain_labels()
                if labels:
                    label_sink(labels)
            if device.responding:
                yield t, device_id, device.read_points()


def _pile(rng: random.Random, name: str, i: int, **params: object) -> DeviceSpec:
    base: dict[str, object] = {
        "temp_cut_c": rng.choice((0.0, 80.0)),
        "plug_rate_per_h": rng.uniform(0.1, 0.3),
        "initial_occupancy": rng.uniform(0.3, 0.7),
        # open pile (0.0005 W/K) … charging locker (0.03 W/K), log-uniform: see physics.thermal
        "battery_coupling_w_per_k": 0.0005 * 60.0 ** rng.random(),
    }
    base.update(params)
    return DeviceSpec(id=f"{name}-p{i}", model=_PILE_MODELS[i % 2], params=base)


def _scenario(
    name: str, ambient: AmbientPreset, devices: list[DeviceSpec], faults: list[FaultSpec], hours: float
) -> Scenario:
    scenario = Scenario(
        name=name,
        start_time=SUMMER_MIDNIGHT if ambient == "summer" else SUMMER_MIDNIGHT - 40 * 86_400.0,
        duration_s=hours * 3600.0,
        ambient=ambient,
        devices=devices,
        faults=faults,
    )
    return validate_scenario(scenario, f"<suite {name}>")


def suite(seed: int, *, repeats: int = 3, hours: float = 12.0) -> list[Scenario]:
    """The labelled scenario suite: normal days per chemistry and ambient, and one scenario per
    fault kind with ``repeats`` instances on different devices, ports and onsets."""
    rng = random.Random(seed)
    out: list[Scenario] = []
    normal_days: tuple[AmbientPreset, ...] = ("summer", "summer", "mild", "winter")
    for day in normal_days:
        name = f"normal-{day}-{len(out)}"
        piles = [_pile(rng, name, i) for i in range(2)]
        piles += [
            _pile(rng, name, 2 + j, chemistries=[chem], charger_min_w=500.0 if j % 2 else 150.0)
            for j, chem in enumerate(CHEMISTRIES)
        ]
        out.append(_scenario(name, day, piles, [], 24.0))
    for kind, spec in KINDS.items():
        name = f"fault-{kind.replace('_', '-')}"
        ambient: AmbientPreset = "summer" if rng.random() < 0.6 else "mild"
        faults: list[FaultSpec] = []
        if spec.target == "blocker":
            devices = [DeviceSpec(id=f"{name}-b{i}", model="cw-blocker") for i in range(repeats)]
        else:
            devices = [_pile(rng, name, i) for i in range(repeats)]
        for device in devices:
            ports = find_profile(device.model).ports if spec.target == "pile_port" else 0
            faults.append(
                FaultSpec(
                    device=device.id,
                    kind=kind,
                    onset_s=rng.uniform(0.1, 0.5) * hours * 3600.0,
                    port=rng.randrange(ports) if ports else None,
                )
            )
        out.append(_scenario(name, ambient, devices, faults, hours))
    return out

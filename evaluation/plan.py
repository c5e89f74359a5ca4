"""What one evaluation seed runs: normal days and dense fault scenarios.

The simulator's own :func:`firmware_sim.offline.suite` puts one fault on each pile, so ten
faults of a kind cost ten piles simulated for hours. The evaluation needs ≥ 10 faults per
hazardous kind for recall to mean something, so here each faulty pile carries
``faults_per_pile`` faults of the same kind on distinct random ports (the other ports stay
normal and count as normal port-hours), with random onsets in the first half of the run.
Normal days come from the suite (every chemistry, both pile models), cycling through the
ambient presets so hot, mild and winter days are all seen. Pile parameters are drawn like the
suite's: firmware temperature cut on or off, plug rate, initial occupancy and the battery →
socket coupling (open pile … charging locker) random.

Severity sweeps: every hazardous kind is injected at each level of its ladder in
:data:`SWEEPS` (``hazard_faults`` faults per level), so recall and lead come out as a curve
over severity and speed, one row per level. The ``default`` suite pairs the simulator's
default strength with a weaker one; the ``weak`` suite walks down to the faults a real site
sees first: spikes from 1.2 × the port limit, overcharge taper floors 0.2–0.6, contact wear
and battery self-heating two to eight times slower, a contact that settles at 70 °C and holds
there, smaller oversized batteries and softer shorts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, Literal

import msgspec

from chargewatch.profiles import find_profile
from firmware_sim.faults import KINDS, DeviceSpec, FaultSpec, Scenario, validate_scenario
from firmware_sim.offline import SUMMER_MIDNIGHT, suite
from firmware_sim.physics import AmbientPreset

_PILE_MODELS = ("cw-pile-10", "vx-pile-12")
#: order in which normal days are taken from the suite (summer, mild, winter, summer)
_NORMAL_ORDER = (0, 2, 3, 1)
_WINTER_OFFSET_S = 40 * 86_400.0
SuiteName = Literal["default", "weak"]
#: one severity level: the fault parameter set and its value
Level = tuple[str, float]
#: suite → hazardous kind → its severity ladder, strongest first
SWEEPS: Final[dict[str, dict[str, tuple[Level, ...]]]] = {
    "default": {
        "connector_overheat": (("doubling_s", 400.0), ("doubling_s", 800.0)),
        "thermal_runaway_precursor": (("growth_s", 900.0), ("growth_s", 1800.0)),
        "overcharge": (("taper_floor", 0.6), ("taper_floor", 0.45)),
        "oversized_battery": (("factor", 4.0), ("factor", 3.0)),
        "overcurrent_spike": (("factor", 1.6), ("factor", 1.45)),
        "short": (("current_a", 25.0), ("current_a", 15.0)),
    },
    "weak": {
        "connector_overheat": (
            ("doubling_s", 800.0), ("doubling_s", 1600.0), ("doubling_s", 3200.0), ("plateau_c", 70.0),
        ),
        "thermal_runaway_precursor": (("growth_s", 1800.0), ("growth_s", 2700.0), ("growth_s", 3600.0)),
        "overcharge": tuple(("taper_floor", f) for f in (0.6, 0.5, 0.4, 0.3, 0.2)),
        "oversized_battery": (("factor", 3.0), ("factor", 2.5)),
        "overcurrent_spike": tuple(("factor", f) for f in (1.5, 1.4, 1.3, 1.2)),
        "short": (("current_a", 15.0), ("current_a", 9.0)),
    },
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SuiteSize:
    """How much one seed runs."""

    #: faults of each hazardous (thermal/electrical) kind per severity level
    hazard_faults: int = 5
    #: faults of each sensor and device kind
    other_faults: int = 4
    #: faults of one kind sharing a pile (distinct ports)
    faults_per_pile: int = 2
    hours: float = 10.0
    normal_days: int = 2
    normal_hours: float = 12.0
    poll_s: float = 5.0
    #: which severity ladders (:data:`SWEEPS`) the hazardous kinds walk
    suite: SuiteName = "default"
    #: the fault kinds that run (empty: every kind); the others are drawn but not run, so a
    #: kind's scenario is the same with or without this restriction
    kinds: tuple[str, ...] = ()


def _pile(rng: random.Random, name: str, i: int) -> DeviceSpec:
    params: dict[str, object] = {
        "temp_cut_c": rng.choice((0.0, 80.0)),
        "plug_rate_per_h": rng.uniform(0.1, 0.3),
        "initial_occupancy": rng.uniform(0.3, 0.7),
        # open pile (0.0005 W/K) … charging locker (0.03 W/K), log-uniform: see physics.thermal
        "battery_coupling_w_per_k": 0.0005 * 60.0 ** rng.random(),
    }
    return DeviceSpec(id=f"{name}-p{i}", model=_PILE_MODELS[i % 2], params=params)


def _fault_scenario(rng: random.Random, kind: str, size: SuiteSize) -> Scenario:
    spec = KINDS[kind]
    name = f"fault-{kind.replace('_', '-')}"
    ladder = SWEEPS[size.suite].get(kind, ())
    count = size.hazard_faults * len(ladder) if ladder else size.other_faults
    per_device = size.faults_per_pile if spec.target == "pile_port" else 1
    devices: list[DeviceSpec] = []
    faults: list[FaultSpec] = []
    while len(faults) < count:
        i = len(devices)
        if spec.target == "blocker":
            device = DeviceSpec(id=f"{name}-b{i}", model="cw-blocker")
        else:
            device = _pile(rng, name, i)
        devices.append(device)
        ports = find_profile(device.model).ports
        chosen = rng.sample(range(ports), per_device) if spec.target == "pile_port" else [None]
        for port in chosen[: count - len(faults)]:
            onset = rng.uniform(0.1, 0.5) * size.hours * 3600.0
            params: dict[str, float | str] = {}
            if ladder:
                param, value = ladder[len(faults) % len(ladder)]
                params[param] = value
            faults.append(FaultSpec(device=device.id, kind=kind, onset_s=onset, port=port, params=params))
    ambient: AmbientPreset = "summer" if rng.random() < 0.6 else "mild"
    start = SUMMER_MIDNIGHT if ambient == "summer" else SUMMER_MIDNIGHT - _WINTER_OFFSET_S
    scenario = Scenario(
        name=name,
        start_time=start,
        duration_s=size.hours * 3600.0,
        ambient=ambient,
        devices=devices,
        faults=faults,
    )
    return validate_scenario(scenario, f"<eval {name}>")


def scenarios(seed: int, size: SuiteSize) -> list[Scenario]:
    """The scenarios of ``seed``: ``normal_days`` normal days, then one scenario per fault kind
    (only those of ``size.kinds`` when it names any)."""
    normal = [sc for sc in suite(seed, repeats=1, hours=size.hours) if not sc.faults]
    out = [
        msgspec.structs.replace(normal[i], duration_s=size.normal_hours * 3600.0)
        for i in _NORMAL_ORDER[: size.normal_days]
    ]
    rng = random.Random(seed * 7_919 + 1)
    for kind in KINDS:
        ladder = SWEEPS[size.suite].get(kind, ())
        count = size.hazard_faults * len(ladder) if ladder else size.other_faults
        if count > 0:
            scenario = _fault_scenario(rng, kind, size)
            if not size.kinds or kind in size.kinds:
                out.append(scenario)
    return out


def severity_of(scenario: Scenario, device: str, port: int | None, kind: str) -> str:
    """The swept level of the fault of ``kind`` at (``device``, ``port``): ``"factor=1.3"``, or ""."""
    for spec in scenario.faults:
        if (spec.device, spec.port, spec.kind) == (device, port, kind) and spec.params:
            parts = (f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in spec.params.items())
            return ",".join(parts)
    return ""


def parse_level(severity: str) -> Level | None:
    """``"factor=1.3"`` → ``("factor", 1.3)``; None for "" or a level of several parameters."""
    if not severity or "," in severity:
        return None
    key, _, value = severity.partition("=")
    try:
        return key, float(value)
    except ValueError:
        return None

"""Fault kinds, the fault and label records, and validation of a fault against a device.

Hazards (category ``thermal`` or ``electrical``) get a second label, ``critical``, written at
the simulated moment the physical hazard condition is reached (see ``KindSpec.critical``); it
is never written if an interlock or the end of the run comes first. Sensor and device faults
get ``onset`` and, when they have a ``duration_s``, ``end``.

What each hazard models, and on what it rests:

* ``connector_overheat`` — the last phase of a degrading contact (fretting corrosion and
  oxidation raise its resistance, the heat speeds the oxidation: Braunović, Konchits &
  Myshkin, *Electrical Contacts*, CRC 2007, ch. 4–5): the resistance doubles every
  ``doubling_s`` up to ``max_ohm``. ``plateau_c`` models a contact that stops degrading when
  it would settle at that temperature (a loose contact that found a new steady state).
* ``thermal_runaway_precursor`` — internal heat of a failing lithium cell growing
  exponentially (``q0_w`` … ``max_w``, e-folding ``growth_s``); half of it an internal short
  fed by the charge (see :mod:`firmware_sim.physics.charger`). Staging after Feng et al. 2018.
* ``overcharge`` — a charger whose CV current never tapers below ``taper_floor`` of its
  rating (a failed end-of-charge detection; BMS failure on lithium).
* ``oversized_battery`` — a battery ``factor`` × the capacity its charger was made for
  (modified packs, DOMAIN.md item 28): the bulk lasts ``factor`` × longer.
* ``overcurrent_spike`` — single-second current peaks of ``factor`` × the port limit about
  every ``every_s`` (a charger's failing input stage). ``short`` — ``current_a`` flowing
  until the firmware's over-current cut.
The critical levels are physical states (socket 90 °C, battery 80 °C, 20 % forced past full,
twice the rated energy, current past the limit), not detector settings.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

import msgspec

from chargewatch.errors import ChargeWatchError

Category = Literal["thermal", "electrical", "sensor", "device"]
Target = Literal["pile_port", "pile", "blocker"]
LabelEvent = Literal["onset", "critical", "end"]
ParamValue = float | str
HAZARD_CATEGORIES: Final = frozenset({"thermal", "electrical"})
#: pile points a sensor fault may target
SENSOR_POINTS: Final = ("socket_temp", "current", "voltage", "power")


class KindSpec(NamedTuple):
    """What a fault kind is: its category, what it attaches to, its params and critical condition."""

    category: Category
    target: Target
    defaults: dict[str, ParamValue]
    critical: str


KINDS: Final[dict[str, KindSpec]] = {
    "connector_overheat": KindSpec(
        "thermal",
        "pile_port",
        {"doubling_s": 400.0, "max_ohm": 8.0, "plateau_c": 0.0},
        "true socket temperature ≥ 90 °C; with plateau_c > 0 (the contact stops wearing once it would"
        " settle there), held ≥ plateau_c − 2 °C for an hour",
    ),
    "thermal_runaway_precursor": KindSpec(
        "thermal",
        "pile_port",
        {"q0_w": 2.0, "growth_s": 900.0, "max_w": 600.0, "smoke_c": 110.0},
        "true battery temperature ≥ 80 °C (self-heating runaway onset); smoke follows at smoke_c",
    ),
    "overcharge": KindSpec(
        "thermal", "pile_port", {"taper_floor": 0.6}, "battery state of charge ≥ 1.2 (20 % forced past full)"
    ),
    "oversized_battery": KindSpec(
        "electrical",
        "pile_port",
        {"factor": 4.0},
        "session DC energy ≥ 2 × the energy of the battery the charger was made for",
    ),
    "overcurrent_spike": KindSpec(
        "electrical",
        "pile_port",
        {"factor": 1.6, "every_s": 45.0},
        "first spike above limits.port_max_current_a",
    ),
    "short": KindSpec(
        "electrical", "pile_port", {"current_a": 25.0}, "current above limits.port_max_current_a"
    ),
    "sensor_stuck": KindSpec("sensor", "pile_port", {"point": "socket_temp", "duration_s": 0.0}, ""),
    "sensor_dropout": KindSpec(
        "sensor", "pile_port", {"point": "socket_temp", "duration_s": 0.0, "share": 0.3}, ""
    ),
    "sensor_garbage": KindSpec(
        "sensor", "pile_port", {"point": "socket_temp", "duration_s": 0.0, "share": 0.5}, ""
    ),
    "pile_unresponsive": KindSpec("device", "pile", {"duration_s": 900.0}, ""),
    "blocker_camera_fault": KindSpec("device", "blocker", {"code": "no_signal", "duration_s": 0.0}, ""),
    "blocker_relay_stuck": KindSpec("device", "blocker", {"duration_s": 0.0}, ""),
    "blocker_offline": KindSpec("device", "blocker", {"duration_s": 900.0}, ""),
}


class FaultError(ChargeWatchError):
    """A fault that does not fit the device it is injected into."""

    def __init__(self, device: str, kind: str, problem: str) -> None:
        super().__init__(f"device {device}: fault {kind}: {problem}")
        self.device = device
        self.kind = kind


class Fault(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A fault to inject: ``kind`` starts at epoch second ``at`` on ``port`` (None: whole device)."""

    kind: str
    at: float
    port: int | None = None
    params: dict[str, ParamValue] = msgspec.field(default_factory=dict)


class Label(msgspec.Struct, frozen=True, kw_only=True):
    """One ground-truth record of the label file (JSON Lines)."""

    device: str
    port: int | None
    kind: str
    category: Category
    hazard: bool
    event: LabelEvent
    t: float


def is_hazard(kind: str) -> bool:
    """True for thermal and electrical hazards, False for sensor and device faults."""
    return KINDS[kind].category in HAZARD_CATEGORIES


def resolve(fault: Fault, device: str, device_kind: str, ports: int) -> dict[str, ParamValue]:
    """Check ``fault`` fits the device; return its params merged over the kind's defaults."""
    spec = KINDS.get(fault.kind)
    if spec is None:
        raise FaultError(device, fault.kind, f"unknown kind; known: {sorted(KINDS)}")
    wanted = "blocker" if spec.target == "blocker" else "pile"
    if device_kind != wanted:
        raise FaultError(device, fault.kind, f"applies to a {wanted}, not a {device_kind}")
    if spec.target == "pile_port":
        if fault.port is None or not 0 <= fault.port < ports:
            raise FaultError(device, fault.kind, f"needs a port in 0..{ports - 1}, got {fault.port}")
    elif fault.port is not None:
        raise FaultError(device, fault.kind, "is a whole-device fault: give no port")
    params = dict(spec.defaults)
    for key, value in fault.params.items():
        default = spec.defaults.get(key)
        if default is None:
            raise FaultError(device, fault.kind, f"unknown param {key!r}; known: {sorted(spec.defaults)}")
        if isinstance(default, str) != isinstance(value, str):
            raise FaultError(device, fault.kind, f"param {key!r} must be a {type(default).__name__}")
        params[key] = value
    point = params.get("point")
    if point is not None and point not in SENSOR_POINTS:
        raise FaultError(device, fault.kind, f"param 'point' must be one of {SENSOR_POINTS}, got {point!r}")
    return params


def label(device: str, port: int | None, kind: str, event: LabelEvent, t: float) -> Label:
    """The label record for ``event`` of a fault of ``kind``."""
    spec = KINDS[kind]
    return Label(
        device=device,
        port=port,
        kind=kind,
        category=spec.category,
        hazard=spec.category in HAZARD_CATEGORIES,
        event=event,
        t=t,
    )

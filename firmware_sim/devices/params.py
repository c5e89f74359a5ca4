"""Model parameters of simulated devices, validated once with unknown keys rejected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import msgspec

from chargewatch.errors import ConfigError
from firmware_sim.physics.ambient import AmbientPreset
from firmware_sim.physics.charger import CHEMISTRIES, Chemistry

_P = TypeVar("_P", bound=msgspec.Struct)


class PileParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Behaviour of a simulated pile; defaults give an ordinary residential site."""

    #: bike arrivals per free port per hour
    plug_rate_per_h: float = 0.15
    #: share of ports with a bike already charging at the start
    initial_occupancy: float = 0.3
    chemistries: list[Chemistry] = msgspec.field(default_factory=lambda: list(CHEMISTRIES))
    charger_min_w: float = 150.0
    charger_max_w: float = 800.0
    #: mean time a rider leaves the bike plugged after the session ended
    mean_unplug_after_end_s: float = 2700.0
    #: share of sessions whose rider unplugs before the battery is full
    early_unplug_share: float = 0.03
    ambient: AmbientPreset = "mild"
    #: daily mean and half-swing of outdoor air (°C); both given → they replace the preset's
    ambient_mean_c: float | None = None
    ambient_amplitude_c: float | None = None
    #: site offset against the regional ambient curve; None draws one in ±1.5 °C
    ambient_offset_c: float | None = None
    utc_offset_h: float = 8.0
    supply_nominal_v: float = 228.0
    #: relative error of every port's energy meter (0.02 reads 2 % high; see
    #: :mod:`firmware_sim.devices.instruments`)
    meter_gain_error: float = 0.0
    #: initial holding value of the over-temperature cut; 0 disables it
    temp_cut_c: float = 80.0
    #: initial holding value of the session limit; None takes limits.max_session_s
    max_session_s: float | None = None
    #: battery → socket conductance (W/K): 0.03 a charging locker (battery beside the socket),
    #: ≈ 0.0005 an open pile (only the charger lead joins them); see firmware_sim.physics.thermal
    battery_coupling_w_per_k: float = 0.03
    full_w: float = 45.0
    full_share: float = 0.2
    full_confirm_s: float = 120.0
    unplug_w: float = 3.5
    over_current_confirm_s: float = 2.0
    firmware_version: float = 1.23
    serial_number: int | None = None
    #: readings with no sensor fitted, e.g. ["socket_temp[3]", "ambient_temp"]: served as the
    #: point's first ``invalid`` sentinel of the profile (checked against it by the pile)
    no_sensor: list[str] = msgspec.field(default_factory=list)


class BlockerParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Behaviour of a simulated elevator blocker."""

    ebike_rate_per_h: float = 2.0
    false_rate_per_h: float = 0.2
    miss_share: float = 0.03
    detect_delay_s: tuple[float, float] = (1.0, 2.0)
    #: how long a detected rider takes to leave the car
    leave_after_alarm_s: tuple[float, float] = (10.0, 60.0)
    #: how long a falsely recognised object stays in view
    false_dwell_s: tuple[float, float] = (20.0, 300.0)
    firmware_version: float = 2.1
    serial_number: int | None = None


def _check_range(device: str, key: str, pair: tuple[float, float]) -> None:
    if not 0 <= pair[0] <= pair[1]:
        raise ConfigError(
            f"device {device}: params.{key}: {list(pair)} is not [low, high]. Fix: 0 ≤ low ≤ high"
        )


def _decode(device: str, params: Mapping[str, object], kind: type[_P]) -> _P:
    try:
        return msgspec.convert(dict(params), type=kind)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"device {device}: params: {exc}. Fix: correct or remove that key (see {kind.__name__})"
        ) from exc


def pile_params(device: str, params: Mapping[str, object]) -> PileParams:
    """Validated :class:`PileParams`; ConfigError names the device, the key and the fix."""
    p = _decode(device, params, PileParams)
    for key in ("plug_rate_per_h", "mean_unplug_after_end_s", "full_confirm_s", "over_current_confirm_s"):
        if getattr(p, key) < 0:
            raise ConfigError(f"device {device}: params.{key}: must be ≥ 0. Fix: give a non-negative number")
    for key in ("initial_occupancy", "early_unplug_share", "full_share"):
        if not 0 <= getattr(p, key) <= 1:
            raise ConfigError(f"device {device}: params.{key}: must be in [0, 1]. Fix: give a share")
    if not 50 <= p.charger_min_w <= p.charger_max_w <= 2000:
        raise ConfigError(
            f"device {device}: params.charger_min_w/charger_max_w: need 50 ≤ min ≤ max ≤ 2000 W. "
            "Fix: e.g. 150 and 800"
        )
    if not p.chemistries:
        raise ConfigError(
            f"device {device}: params.chemistries: empty. Fix: list at least one of {CHEMISTRIES}"
        )
    if (p.ambient_mean_c is None) != (p.ambient_amplitude_c is None):
        raise ConfigError(
            f"device {device}: params.ambient_mean_c/ambient_amplitude_c: give both or neither. "
            "Fix: e.g. ambient_mean_c: 30, ambient_amplitude_c: 8"
        )
    if not 0 <= p.battery_coupling_w_per_k <= 1:
        raise ConfigError(
            f"device {device}: params.battery_coupling_w_per_k: must be in [0, 1] W/K. "
            "Fix: 0.03 for a charging locker, 0.0005 for an open pile"
        )
    if not -0.1 <= p.meter_gain_error <= 0.1:
        raise ConfigError(
            f"device {device}: params.meter_gain_error: {p.meter_gain_error} is outside ±0.1. "
            "Fix: a relative error such as 0.02 (reads 2 % high)"
        )
    if p.temp_cut_c < 0 or (p.max_session_s is not None and p.max_session_s < 0):
        raise ConfigError(f"device {device}: params.temp_cut_c/max_session_s: must be ≥ 0 (0 disables)")
    return p


def blocker_params(device: str, params: Mapping[str, object]) -> BlockerParams:
    """Validated :class:`BlockerParams`; ConfigError names the device, the key and the fix."""
    p = _decode(device, params, BlockerParams)
    for key in ("ebike_rate_per_h", "false_rate_per_h"):
        if getattr(p, key) < 0:
            raise ConfigError(f"device {device}: params.{key}: must be ≥ 0. Fix: give a non-negative rate")
    if not 0 <= p.miss_share <= 1:
        raise ConfigError(f"device {device}: params.miss_share: must be in [0, 1]. Fix: give a share")
    for key in ("detect_delay_s", "leave_after_alarm_s", "false_dwell_s"):
        _check_range(device, key, getattr(p, key))
    return p

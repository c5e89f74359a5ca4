"""Same seed and scenario → identical samples; other seeds differ; ambient presets hold."""

from __future__ import annotations

import math

import pytest

from chargewatch.errors import ConfigError
from firmware_sim.devices.instruments import OFFSET_MAX_C
from firmware_sim.faults import DeviceSpec, FaultSpec, Label, Scenario
from firmware_sim.offline import SUMMER_MIDNIGHT, run
from firmware_sim.physics import Ambient
from tests.sim.physics.helpers import T0, advance, device_value, quiet_pile

SCENARIO = Scenario(
    start_time=SUMMER_MIDNIGHT,
    duration_s=3 * 3600.0,
    step_s=2.0,
    ambient="summer",
    devices=[
        DeviceSpec(id="p1", model="cw-pile-10", params={"plug_rate_per_h": 0.5}),
        DeviceSpec(id="p2", model="vx-pile-12"),
        DeviceSpec(id="b1", model="cw-blocker", params={"ebike_rate_per_h": 6.0}),
    ],
    faults=[
        FaultSpec(device="p1", kind="thermal_runaway_precursor", onset_s=600.0, port=1),
        FaultSpec(device="p2", kind="sensor_garbage", onset_s=60.0, port=3),
        FaultSpec(device="b1", kind="blocker_camera_fault", onset_s=7200.0),
    ],
)


def _collect(seed: int) -> tuple[list[object], list[Label]]:
    labels: list[Label] = []
    samples: list[object] = [
        (t, dev, dict(points)) for t, dev, points in run(SCENARIO, seed, label_sink=labels.extend)
    ]
    return samples, labels


def test_same_seed_same_samples_and_labels() -> None:
    a, la = _collect(3)
    b, lb = _collect(3)
    assert len(a) == 3 * 5400
    assert a == b
    assert la == lb
    assert {x.kind for x in la} == {"thermal_runaway_precursor", "sensor_garbage", "blocker_camera_fault"}


def test_different_seeds_differ() -> None:
    a, _ = _collect(3)
    c, _ = _collect(4)
    assert a != c


def test_summer_afternoon_reaches_40_c_and_nights_cool() -> None:
    summer = Ambient.preset("summer")
    day = [summer.temp(SUMMER_MIDNIGHT + h * 3600.0) for h in range(24)]
    assert 39.5 <= max(day) <= 41.5
    assert day.index(max(day)) == 15
    assert min(day) < 25
    mild = Ambient.preset("mild")
    assert max(mild.temp(SUMMER_MIDNIGHT + h * 3600.0) for h in range(24)) < 30
    assert math.isclose(summer.temp(SUMMER_MIDNIGHT), summer.temp(SUMMER_MIDNIGHT + 86_400.0))


def test_pile_ambient_follows_preset_or_explicit_mean_and_amplitude() -> None:
    hot = quiet_pile(ambient="summer", ambient_offset_c=0.0)
    custom = quiet_pile(ambient_mean_c=10.0, ambient_amplitude_c=2.0, ambient_offset_c=0.0)
    afternoon = T0 + 5 * 3600.0  # 15:00 local
    assert hot.ambient.temp(afternoon) == pytest.approx(40.5)
    assert custom.ambient.temp(afternoon) == pytest.approx(12.0)
    advance(hot, 5 * 3600, dt=10.0)
    assert 40.0 <= hot.cabinet_c <= 42.0
    # the cabinet sensor reads the air with its calibration offset and noise
    assert abs(device_value(hot, "ambient_temp") - hot.cabinet_c) <= OFFSET_MAX_C + 0.5
    with pytest.raises(ConfigError, match="ambient_amplitude_c"):
        quiet_pile(ambient_mean_c=10.0)

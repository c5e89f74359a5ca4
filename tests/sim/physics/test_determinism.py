"""Same seed and scenario → identical samples; other seeds differ; ambient presets hold."""

from __future__ import annotations

import math

from firmware_sim.faults import DeviceSpec, FaultSpec, Label, Scenario
from firmware_sim.offline import SUMMER_MIDNIGHT, run
from firmware_sim.physics import Ambient

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

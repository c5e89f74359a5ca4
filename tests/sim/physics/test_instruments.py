"""The pile's instruments: offset, noise and ADC steps on temperatures, gain on energy meters."""

from __future__ import annotations

import random
import statistics

import pytest

from firmware_sim.devices.instruments import (
    ADC_STEP_C,
    NOISE_SIGMA_C,
    OFFSET_MAX_C,
    Instruments,
)
from tests.sim.physics.helpers import advance, device_value, quiet_pile


def test_a_socket_sensor_has_a_fixed_offset_white_noise_and_adc_steps() -> None:
    sense = Instruments(random.Random(5), 10)
    readings = [[sense.socket(p, 50.0) for _ in range(2_000)] for p in range(10)]
    offsets = [statistics.fmean(r) - 50.0 for r in readings]
    assert all(abs(o) <= OFFSET_MAX_C + 0.02 for o in offsets)
    assert len({round(o, 1) for o in offsets}) > 3  # each sensor its own offset
    for r in readings:
        assert statistics.stdev(r) == pytest.approx(NOISE_SIGMA_C, rel=0.2)
        assert all(abs(x / ADC_STEP_C - round(x / ADC_STEP_C)) < 1e-9 for x in r)


def test_the_ambient_sensor_lags_the_air() -> None:
    sense = Instruments(random.Random(5), 1)
    sense.ambient(20.0, 0.0)
    assert sense.ambient(30.0, 10.0) < 25.0
    for _ in range(600):
        late = sense.ambient(30.0, 1.0)
    assert abs(late - 30.0) <= OFFSET_MAX_C + 0.5


def _after_10_min(meter_gain_error: float) -> tuple[list[float], list[float], float]:
    pile = quiet_pile(initial_occupancy=1.0, meter_gain_error=meter_gain_error)
    advance(pile, 600, dt=1.0)
    points = pile.read_points()
    energy, temps = points["energy"], points["socket_temp"]
    assert isinstance(energy, list)
    assert isinstance(temps, list)
    return energy, temps, device_value(pile, "ambient_temp")


def test_instruments_are_seeded_and_the_meter_gain_leaves_the_rest_alone() -> None:
    true, temps, ambient = _after_10_min(0.0)
    assert _after_10_min(0.0) == (true, temps, ambient)
    high, temps_high, ambient_high = _after_10_min(0.03)
    assert any(t > 0 for t in true)
    assert high == pytest.approx([1.03 * t for t in true])
    assert (temps_high, ambient_high) == (temps, ambient)

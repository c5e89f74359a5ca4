"""Sensor plausibility: stuck readings are judged from when the driver moved, not before."""

from __future__ import annotations

import numpy as np

from analytics.alerts import Condition
from analytics.rules import RuleConfig, SensorRules

DT = 5.0


def _run(temps: list[float], powers: list[float]) -> list[list[Condition]]:
    rules = SensorRules(1, RuleConfig())
    out = []
    for k, (temp, power) in enumerate(zip(temps, powers, strict=True)):
        conds: list[Condition] = []
        cols = {
            "socket_temp": np.array([temp]),
            "power": np.array([power]),
            "current": np.array([power / 220.0]),
            "voltage": np.array([220.0]),
        }
        rules.evaluate(k * DT, cols, {}, conds, ambient=25.0)
        out.append(conds)
    return out


def test_a_long_idle_flat_reading_is_not_stuck_when_load_starts() -> None:
    idle, loaded = 600, 400
    temps = [25.0] * idle + [25.0 + min(k, 100) * 0.05 for k in range(loaded)]
    conds = _run(temps, [0.0] * idle + [400.0] * loaded)
    assert not any(conds)


def test_a_reading_that_ignores_a_new_load_is_stuck() -> None:
    idle, loaded = 600, 400
    conds = _run([25.0] * (idle + loaded), [0.0] * idle + [400.0] * loaded)
    first = next(k for k, cs in enumerate(conds) if cs)
    assert (first - idle) * DT >= RuleConfig().stuck_s
    assert "stuck" in conds[first][0].message


def test_a_reading_pinned_at_the_top_of_the_range_is_a_hot_socket_not_a_stuck_sensor() -> None:
    conds = _run([150.0] * 800, [0.0] * 100 + [400.0] * 700)
    assert not any(conds)


def test_a_one_sample_current_spike_does_not_arm_the_stuck_check() -> None:
    """A coarse sensor on a steady loaded port repeats itself; a spike in between drives nothing."""
    n = 800
    powers = [400.0] * n
    powers[100] = 2_000.0
    conds = _run([30.0] * n, powers)
    assert not any(conds)

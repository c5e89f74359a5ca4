"""Every window, warm-up and persistence of the analytics is in seconds: a stream polled every
1 s or every 5 s gives the same verdicts at the same times."""

from __future__ import annotations

import math
import random

import numpy as np

from analytics.alerts import Condition
from analytics.detectors import ThermalBank
from analytics.pipeline import Pipeline, PipelineConfig
from analytics.rules import RuleConfig, SensorRules
from chargewatch.messages import Telemetry
from tests.analytics.synth import T0

HOURS = 3.0
FAULT_AT = 2.0 * 3_600.0
#: a shorter thermal warm-up than the default keeps the streams short
CONFIG = PipelineConfig(rules=RuleConfig(residual_warmup_s=3_600.0))


def _second_by_second(seed: int) -> list[tuple[float, float, float, float]]:
    """(socket °C, ambient °C, current A, power W) each second: a 500 W load from 15 min on; from
    ``FAULT_AT`` a failing contact adds heat that doubles every 5 min."""
    rng = random.Random(seed)
    temp, out = 30.0, []
    for s in range(int(HOURS * 3_600)):
        power = 500.0 if s >= 900 else 0.0
        current = power / 220.0
        ambient = 30.0 + 3.0 * math.sin(2 * math.pi * s / 86_400.0)
        extra = 0.5 * 2.0 ** ((s - FAULT_AT) / 300.0) if s >= FAULT_AT else 0.0
        target = ambient + current * current * 0.8 + power * 0.004 + extra
        temp += (target - temp) * (1.0 - math.exp(-1.0 / 420.0))
        out.append((round(temp + rng.gauss(0.0, 0.1), 1), round(ambient, 1), current, power))
    return out


def _alerts(poll_s: int, stream: list[tuple[float, float, float, float]]) -> dict[str, float]:
    """First firing time (s from the start) of each alert kind when polled every ``poll_s``."""
    pipeline = Pipeline(CONFIG)
    first: dict[str, float] = {}
    for k in range(0, len(stream), poll_s):
        temp, ambient, current, power = stream[k]
        msg = Telemetry(
            device="pile-1",
            boot=1,
            seq=k,
            ts=T0 + k,
            model="cw-pile-10",
            ports={
                "socket_temp": [temp],
                "power": [power],
                "current": [current],
                "voltage": [220.0],
                "state": [1.0 if power > 3.5 else 0.0],
            },
            values={"ambient_temp": ambient},
        )
        for change in pipeline.process_batch([msg]):
            if change.state == "firing":
                first.setdefault(change.kind, float(k))
    return first


def test_a_failing_contact_is_flagged_at_the_same_time_at_1_s_and_5_s() -> None:
    stream = _second_by_second(7)
    fast, slow = _alerts(1, stream), _alerts(5, stream)
    assert "thermal_residual" in fast
    assert "thermal_residual" in slow
    assert FAULT_AT < fast["thermal_residual"] < FAULT_AT + 1_800.0
    assert abs(fast["thermal_residual"] - slow["thermal_residual"]) <= 120.0
    assert all(t > FAULT_AT for t in (*fast.values(), *slow.values())), (fast, slow)


def _warm_after(poll_s: float) -> float:
    """Seconds of load after which a bank polled every ``poll_s`` judges residuals."""
    bank = ThermalBank(1, warmup_loaded_s=3_600.0)
    one = np.ones(1)
    t = 0.0
    while True:
        t += poll_s
        bank.learn(t, one * 40.0, one * 30.0, one * 2.0, one * 440.0)
        if bank.scores(one * 100.0)[0] > 0.0:
            return t


def test_the_thermal_warm_up_is_loaded_time_whatever_the_poll_rate() -> None:
    """An hour of loaded time, after the first hour the port is seen (nothing is learnt while
    its load filters still carry their first guess)."""
    warm = {poll: _warm_after(poll) for poll in (1.0, 2.0, 5.0, 10.0)}
    for poll, t in warm.items():
        assert 3_600.0 + 3_600.0 <= t <= 3_600.0 + 3_600.0 + 2 * poll, warm


def test_a_data_gap_is_not_learnt_as_loaded_time() -> None:
    bank = ThermalBank(1, warmup_loaded_s=3_600.0, gap_s=120.0)
    one = np.ones(1)
    for t in (5.0, 3_600.0, 3_605.0, 3_610.0, 6_000.0, 6_005.0):
        bank.learn(t, one * 40.0, one * 30.0, one * 2.0, one * 440.0)
    assert bank.loaded[0] == 15.0


def _sensor_fault_at(poll_s: int, bad: set[int], seconds: int = 1_800) -> float | None:
    rules = SensorRules(1, RuleConfig())
    for s in range(0, seconds, poll_s):
        temp = math.nan if s in bad else 30.0
        cols = {
            "socket_temp": np.array([temp]),
            "power": np.array([300.0]),
            "current": np.array([1.4]),
            "voltage": np.array([220.0]),
        }
        conds: list[Condition] = []
        rules.evaluate(float(s), cols, {}, conds, ambient=25.0)
        if conds:
            return float(s)
    return None


def test_a_dropping_sensor_is_flagged_alike_at_any_poll_rate() -> None:
    rng = random.Random(3)
    bad = {s for s in range(600, 1_800) if rng.random() < 0.3}
    times = {poll: _sensor_fault_at(poll, bad) for poll in (1, 2, 5, 10)}
    for t in times.values():
        assert t is not None
        assert 600.0 <= t <= 900.0, times


def test_one_bad_reading_is_no_sensor_fault_at_any_poll_rate() -> None:
    for poll in (1, 2, 5, 10):
        assert _sensor_fault_at(poll, {600}) is None

"""Per-port thermal baseline: hot summer days normal, a failing connector flagged."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from analytics.alerts import Condition
from analytics.detectors import ThermalBank
from analytics.rules import PhysicalRules, RuleConfig
from tests.analytics.synth import T0, Port, lead_acid_power, summer_ambient


def _simulate(days: float, degrade_from_s: float | None, ports: int = 4, dt: float = 10.0) -> np.ndarray:
    bank = ThermalBank(ports)
    models = [Port(contact_ohm=0.01 + 0.005 * i) for i in range(ports)]
    rated = [250.0, 400.0, 600.0, 800.0][:ports]
    scores = []
    n = int(days * 86_400 / dt)
    for k in range(n):
        t = T0 + k * dt
        elapsed = (k * dt) % (8 * 3_600)
        power = np.array([lead_acid_power(elapsed, r) if elapsed < 7 * 3_600 else 0.0 for r in rated])
        current = power / 220.0
        amb = summer_ambient(t)
        if degrade_from_s is not None and k * dt > degrade_from_s:
            models[0].contact_ohm = 0.01 + 0.2 * (k * dt - degrade_from_s) / 3_600
        temp = np.array([m.step(dt, c, p, amb) for m, c, p in zip(models, current, power, strict=True)])
        temp = np.round(temp, 1)
        ambient = np.full(ports, round(amb, 1))
        resid = bank.learn(t, temp, ambient, current, power)
        scores.append(bank.scores(resid))
    return np.array(scores)


def test_hot_summer_days_with_every_load_are_quiet() -> None:
    scores = _simulate(days=3, degrade_from_s=None)
    assert scores.max() < 0.3


def test_connector_heating_faster_than_its_load_is_flagged_early() -> None:
    onset = 2 * 86_400 + 600.0
    scores = _simulate(days=2.1, degrade_from_s=onset)
    first = int(onset / 10)
    flagged = np.flatnonzero(scores[first:, 0] > 0.5)
    assert flagged.size, "the failing connector was never flagged"
    assert flagged[0] * 10 < 1_800, "flagged later than 30 min after onset"
    assert scores[first:, 1:].max() < 0.3, "healthy neighbours flagged"


def test_warmup_is_neutral() -> None:
    bank = ThermalBank(2)
    resid = bank.learn(T0, np.array([80.0, 30.0]), np.array([30.0, 30.0]), np.zeros(2), np.zeros(2))
    assert bank.scores(resid).tolist() == [0.0, 0.0]


def _idle(gap_of: Callable[[float], float], amb_of: Callable[[float], float], hours: float) -> list[str]:
    rules = PhysicalRules(1, RuleConfig(), 5.5)
    kinds: list[str] = []
    for k in range(int(hours * 720)):
        t = 5.0 * k
        amb = amb_of(t)
        conds: list[Condition] = []
        cols = {
            "socket_temp": np.array([amb + gap_of(t)]),
            "current": np.array([0.0]),
            "power": np.array([0.0]),
        }
        rules.evaluate(t, cols, amb, smoke=False, temp_ok=np.array([True]), conditions=conds)
        kinds += [c.kind for c in conds]
    return kinds


def test_an_idle_socket_warming_against_the_ambient_is_a_residual() -> None:
    def gap(t: float) -> float:
        return 2.0 + 0.1 * math.exp(max(t - 3_600.0, 0.0) / 900.0)

    assert "thermal_residual" in _idle(gap, lambda t: 25.0, 2.0)


def test_an_idle_socket_following_a_warming_morning_or_cooling_down_is_quiet() -> None:
    assert not _idle(lambda t: 2.0, lambda t: 20.0 + 3.0 * t / 3_600.0, 3.0)
    assert not _idle(lambda t: 15.0 * math.exp(-t / 900.0), lambda t: 25.0, 3.0)

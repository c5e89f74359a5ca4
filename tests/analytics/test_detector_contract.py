"""The contract every streaming detector passes (river.checks style)."""

from __future__ import annotations

import copy
import math
import pickle
import random
from collections.abc import Callable
from typing import Any

import pytest

from analytics.detectors import ThermalDetector, UnivariateDetector
from analytics.errors import DetectorInputError
from tests.analytics.synth import T0, charging_day

Stream = list[tuple[float, Any]]


def _univariate_stream(seed: int, n: int = 400) -> Stream:
    rng = random.Random(seed)
    return [(T0 + 30.0 * i, 20.0 + rng.gauss(0, 1) + (15.0 if i % 97 == 50 else 0.0)) for i in range(n)]


def _thermal_stream(seed: int, n: int = 1_500) -> Stream:
    out: Stream = []
    for t, temp, amb, cur, pw in charging_day(seed, dt=20.0):
        hot = 15.0 if len(out) % 500 == 499 else 0.0
        out.append((t, {"socket_temp": temp + hot, "ambient_temp": amb, "current": cur, "power": pw}))
        if len(out) == n:
            break
    return out


CASES: list[tuple[str, Callable[[], Any], Callable[[int], Stream], Any]] = [
    # a NaN reading is a missing sample for the univariate detector (neutral score, not learnt)
    ("univariate", UnivariateDetector, _univariate_stream, "12.5"),
    (
        "thermal",
        lambda: ThermalDetector(warmup_loaded_s=1_000.0),
        _thermal_stream,
        {"socket_temp": math.nan, "ambient_temp": 30.0, "current": 1.0, "power": 200.0},
    ),
]
IDS = [c[0] for c in CASES]


def _feed(det: Any, stream: Stream) -> list[float]:
    scores = []
    for t, x in stream:
        scores.append(det.score_one(t, x))
        det.learn_one(t, x)
    return scores


@pytest.mark.parametrize(("name", "make", "stream", "bad"), CASES, ids=IDS)
def test_neutral_during_warmup(
    name: str, make: Callable[[], Any], stream: Callable[[int], Stream], bad: Any
) -> None:
    det = make()
    first = stream(1)[:10]
    assert _feed(det, first) == [0.0] * len(first)


@pytest.mark.parametrize(("name", "make", "stream", "bad"), CASES, ids=IDS)
def test_scores_are_bounded(
    name: str, make: Callable[[], Any], stream: Callable[[int], Stream], bad: Any
) -> None:
    scores = _feed(make(), stream(2))
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert max(scores) > 0.0, "the stream holds anomalies; a detector that never scores is broken"


@pytest.mark.parametrize(("name", "make", "stream", "bad"), CASES, ids=IDS)
def test_deterministic(name: str, make: Callable[[], Any], stream: Callable[[int], Stream], bad: Any) -> None:
    assert _feed(make(), stream(3)) == _feed(make(), stream(3))


@pytest.mark.parametrize(("name", "make", "stream", "bad"), CASES, ids=IDS)
def test_score_one_does_not_learn(
    name: str, make: Callable[[], Any], stream: Callable[[int], Stream], bad: Any
) -> None:
    det = make()
    data = stream(4)
    half = len(data) // 2
    _feed(det, data[:half])
    before = pickle.dumps(det)
    for t, x in data[half:]:
        det.score_one(t, x)
    assert pickle.dumps(det) == before


@pytest.mark.parametrize(("name", "make", "stream", "bad"), CASES, ids=IDS)
def test_pickle_round_trip_gives_identical_next_scores(
    name: str, make: Callable[[], Any], stream: Callable[[int], Stream], bad: Any
) -> None:
    det = make()
    data = stream(5)
    half = len(data) // 2
    _feed(det, data[:half])
    clone = pickle.loads(pickle.dumps(det))  # noqa: S301 - our own checkpoint
    assert _feed(clone, data[half:]) == _feed(copy.deepcopy(det), data[half:])


@pytest.mark.parametrize(("name", "make", "stream", "bad"), CASES, ids=IDS)
def test_bad_input_raises_a_typed_error(
    name: str, make: Callable[[], Any], stream: Callable[[int], Stream], bad: Any
) -> None:
    det = make()
    with pytest.raises(DetectorInputError):
        det.score_one(T0, bad)
    with pytest.raises(DetectorInputError):
        det.learn_one(T0, bad)

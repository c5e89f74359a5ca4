"""UnivariateDetector on synthetic streams: spikes high, noise low, shifts, seasons, gaps, NaN."""

from __future__ import annotations

import math
import random

import pytest

from analytics.detectors import ThresholdFilter, UnivariateDetector
from analytics.errors import DetectorInputError
from tests.analytics.synth import T0

DAY = 86_400.0


def _daily(t: float) -> float:
    return 30.0 + 8.0 * math.sin(2 * math.pi * (t % DAY) / DAY)


def _run(det: UnivariateDetector, points: list[tuple[float, float]]) -> list[float]:
    scores = []
    for t, x in points:
        scores.append(det.score_one(t, x))
        det.learn_one(t, x)
    return scores


def test_noise_scores_low_and_spikes_high() -> None:
    rng = random.Random(1)
    pts = [(T0 + i, 5.0 + rng.gauss(0, 0.2)) for i in range(3_000)]
    spikes = {1_000, 2_000, 2_500}
    pts = [(t, x + (5.0 if i in spikes else 0.0)) for i, (t, x) in enumerate(pts)]
    scores = _run(UnivariateDetector(), pts)
    quiet = [s for i, s in enumerate(scores) if i not in spikes]
    assert max(quiet) < 0.3
    assert sum(s > 0.1 for s in quiet) / len(quiet) < 0.005
    assert all(scores[i] > 0.9 for i in spikes)


def test_daily_seasonality_is_not_flagged_but_a_spike_on_it_is() -> None:
    rng = random.Random(2)
    det = UnivariateDetector()
    pts = [(T0 + 60.0 * i, _daily(T0 + 60.0 * i) + rng.gauss(0, 0.5)) for i in range(int(4 * DAY / 60))]
    scores = _run(det, pts)
    assert max(scores) < 0.3
    spike_t = pts[-1][0] + 60.0
    assert det.score_one(spike_t, _daily(spike_t) + 10.0) > 0.7


def test_level_shift_is_relearnt_within_a_few_samples() -> None:
    rng = random.Random(3)
    pts = [(T0 + 10.0 * i, 100.0 + rng.gauss(0, 1) + (40.0 if i >= 1_000 else 0.0)) for i in range(2_000)]
    scores = _run(UnivariateDetector(), pts)
    assert scores[1_000] > 0.9
    assert max(scores[1_010:]) < 0.3


def test_irregular_sampling_and_gaps() -> None:
    rng = random.Random(4)
    t, pts = T0, []
    for i in range(1_500):
        t += rng.expovariate(1 / 30.0) + (6 * 3_600.0 if i == 700 else 0.0)
        pts.append((t, 12.0 + rng.gauss(0, 0.3)))
    scores = _run(UnivariateDetector(), pts)
    assert max(scores[30:]) < 0.5
    assert sum(s > 0.1 for s in scores) < 10


def test_warmup_is_neutral_then_scores() -> None:
    det = UnivariateDetector(warmup=10)
    scores = _run(det, [(T0 + i, float(i % 2)) for i in range(10)])
    assert scores == [0.0] * 10
    assert det.score_one(T0 + 11, 50.0) > 0.9


def test_nan_is_a_clear_error() -> None:
    det = UnivariateDetector()
    with pytest.raises(DetectorInputError, match="NaN"):
        det.learn_one(T0, math.nan)
    with pytest.raises(DetectorInputError):
        det.score_one(T0, math.inf)


def test_threshold_filter_protects_the_model_from_anomalies() -> None:
    rng = random.Random(5)
    base = [(T0 + i, 10.0 + rng.gauss(0, 0.1)) for i in range(200)]
    det = UnivariateDetector()
    guarded = ThresholdFilter(det, threshold=0.5)
    flags = [guarded.process_one(t, x) for t, x in base]
    assert not any(flags)
    level = det.level
    assert guarded.process_one(T0 + 300, 40.0)
    assert det.level == level

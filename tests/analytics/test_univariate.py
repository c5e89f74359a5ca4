"""UnivariateDetector on synthetic streams: spikes, alert hold, seasons, shifts, sampling rate, NaN."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from analytics.detectors import ThresholdFilter, UnivariateDetector
from analytics.errors import DetectorInputError
from tests.analytics.synth import T0

DAY = 86_400.0
HOUR = 3_600.0


def _daily(t: float) -> float:
    return 30.0 + 8.0 * math.sin(2 * math.pi * (t % DAY) / DAY)


def _run(det: UnivariateDetector, points: list[tuple[float, float]]) -> list[float]:
    scores = []
    for t, x in points:
        scores.append(det.score_one(t, x))
        det.learn_one(t, x)
    return scores


def _noise(seed: int, n: int, dt: float, level: float = 5.0, sd: float = 0.2) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(T0 + dt * i, level + rng.gauss(0, sd)) for i in range(n)]


def test_noise_scores_low_and_a_spike_high() -> None:
    pts = _noise(1, 3_000, 60.0)
    pts[2_000] = (pts[2_000][0], pts[2_000][1] + 5.0)
    scores = _run(UnivariateDetector(), pts)
    quiet = scores[:2_000] + scores[2_001:]
    assert scores[2_000] > 0.99
    assert sum(s > 0.9 for s in quiet) <= 3


def test_score_learn_one_equals_score_then_learn() -> None:
    pts = _noise(2, 1_500, 60.0)
    pts[1_000] = (pts[1_000][0], 9.0)
    fused = UnivariateDetector()
    assert [fused.score_learn_one(t, x) for t, x in pts] == _run(UnivariateDetector(), pts)


def test_an_echo_within_the_hold_is_damped_and_a_later_one_fires() -> None:
    pts = _noise(3, 3 * 1_440, 60.0)  # three days at one sample a minute
    for i in (1_500, 1_560, 1_500 + 13 * 60):  # a spike, its echo an hour later, one after 13 h
        pts[i] = (pts[i][0], pts[i][1] + 5.0)
    scores = _run(UnivariateDetector(hold_s=12 * HOUR), pts)
    assert scores[1_500] > 0.99
    assert scores[1_560] < 0.1
    assert scores[1_500 + 13 * 60] > 0.9


def test_daily_season_is_not_flagged_but_a_value_wrong_for_its_hour_is() -> None:
    rng = random.Random(4)
    det = UnivariateDetector()
    pts = [(T0 + 300.0 * i, _daily(T0 + 300.0 * i) + rng.gauss(0, 0.3)) for i in range(int(5 * DAY / 300))]
    scores = _run(det, pts)
    assert sum(s > 0.9 for s in scores[int(DAY / 300) :]) <= 2
    low_t = T0 + 5 * DAY + DAY / 4  # the daily peak (38); 23 is normal at night, not now
    assert det.score_one(low_t, 23.0) > 0.9
    assert det.score_one(low_t, _daily(low_t)) == 0.0


def test_a_level_shift_alarms_once_then_becomes_normal() -> None:
    rng = random.Random(5)
    pts = [(T0 + 300.0 * i, 100.0 + rng.gauss(0, 1) + (40.0 if i >= 1_000 else 0.0)) for i in range(3_000)]
    scores = _run(UnivariateDetector(), pts)
    assert max(scores[1_000:1_003]) > 0.99
    alarms_after = sum(s > 0.9 for s in scores[1_003:])
    assert alarms_after <= 3
    assert max(scores[2_500:]) < 0.5


def _alarm_times(dt: float, seed: int) -> list[float]:
    """Alarm times on one underlying signal (noise + two events) sampled every ``dt`` s."""
    rng = random.Random(seed)
    events = {(T0 + 2 * DAY, 6.0), (T0 + 3.5 * DAY, -6.0)}
    det = UnivariateDetector()
    out = []
    t = T0
    while t < T0 + 5 * DAY:
        x = 50.0 + 3.0 * math.sin(2 * math.pi * t / DAY) + rng.gauss(0, 0.5)
        x += sum(dx for at, dx in events if at <= t < at + 1_800.0)
        if det.score_learn_one(t, x) > 0.98:
            out.append(t)
        t += dt
    return out


@pytest.mark.parametrize("dt", [120.0, 60.0, 30.0])
def test_the_same_signal_at_any_sampling_rate_gives_the_same_alarms(dt: float) -> None:
    times = _alarm_times(dt, 6)
    near_events = [t for t in times if min(abs(t - T0 - 2 * DAY), abs(t - T0 - 3.5 * DAY)) <= 600.0]
    first_day = [t for t in times if t < T0 + DAY]  # the daily profile is still being learnt
    assert any(abs(t - T0 - 2 * DAY) <= 2 * dt for t in times)
    assert any(abs(t - T0 - 3.5 * DAY) <= 2 * dt for t in times)
    assert len(near_events) <= 3
    assert len(first_day) <= 2
    assert sorted(near_events + first_day) == times


def test_irregular_sampling_and_gaps_raise_no_alarm() -> None:
    rng = random.Random(7)
    t, pts = T0, []
    for i in range(3_000):
        t += rng.expovariate(1 / 60.0) + (6 * HOUR if i == 1_700 else 0.0)
        pts.append((t, 12.0 + rng.gauss(0, 0.3)))
    scores = _run(UnivariateDetector(), pts)
    assert sum(s > 0.9 for s in scores) <= 2


def test_a_gap_of_years_forgets_the_history_without_overflow() -> None:
    det = UnivariateDetector()
    _run(det, _noise(12, 500, 60.0))
    later = T0 + 10 * 365 * DAY
    scores = _run(det, [(later + 60.0 * i, x) for i, (_, x) in enumerate(_noise(13, 500, 60.0))])
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert det.rank_growth < 1e60
    assert det.score_one(later + 60.0 * 501, 9.0) > 0.99


def test_warmup_is_neutral_then_scores() -> None:
    det = UnivariateDetector(warmup_n=10, warmup_s=0.0)
    scores = _run(det, [(T0 + i, float(i % 2)) for i in range(10)])
    assert scores == [0.0] * 10
    assert det.score_one(T0 + 11, 50.0) > 0.9


def test_nan_and_inf_score_neutral_and_leave_the_state_untouched() -> None:
    pts = _noise(8, 1_200, 60.0)
    det = UnivariateDetector()
    _run(det, pts[:1_000])
    before = pickle.dumps(det)
    for bad in (math.nan, math.inf, -math.inf):
        assert det.score_one(T0 + 60_001.0, bad) == 0.0
        det.learn_one(T0 + 60_001.0, bad)
        assert det.score_learn_one(T0 + 60_002.0, bad) == 0.0
    assert pickle.dumps(det) == before
    clean = pickle.loads(before)  # noqa: S301 - our own checkpoint
    assert _run(det, pts[1_000:]) == _run(clean, pts[1_000:])


def test_non_numbers_and_bad_timestamps_are_clear_errors() -> None:
    det = UnivariateDetector()
    with pytest.raises(DetectorInputError, match="not a number"):
        det.learn_one(T0, None)  # type: ignore[arg-type]
    with pytest.raises(DetectorInputError, match="timestamp"):
        det.score_one(math.nan, 1.0)


def test_state_is_bounded_whatever_the_stream_length() -> None:
    det = UnivariateDetector()
    _run(det, _noise(9, 2_000, 30.0))
    short = len(pickle.dumps(det))
    _run(det, [(T0 + 60_000.0 + 30.0 * i, x) for i, (_, x) in enumerate(_noise(10, 40_000, 30.0))])
    assert len(pickle.dumps(det)) <= short + 64
    assert len(det.rank) == 48
    assert len(det.season) == det.bins


def test_threshold_filter_protects_the_model_from_anomalies() -> None:
    det = UnivariateDetector()
    guarded = ThresholdFilter(det, threshold=0.999)  # the score is a rank: 0.999 = 1 in 1,000
    flags = [guarded.process_one(t, x) for t, x in _noise(11, 2_000, 60.0, level=10.0, sd=0.1)]
    assert sum(flags) <= 20
    mean = det.mean
    assert guarded.process_one(T0 + 60.0 * 2_001, 40.0)
    assert det.mean == mean


@pytest.mark.parametrize(
    "kwargs",
    [{"long_half_life_s": 0.0}, {"rank_half_life_s": math.inf}, {"warmup_n": 1}, {"fire_at": 1.0}],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        UnivariateDetector(**kwargs)  # type: ignore[arg-type]

"""The generic detector as it was before issue 10 (count-based warm-up, z-score squashed to
[0, 1), NaN raises): kept only as the reference the NAB test must beat, computed in the test.
"""

from __future__ import annotations

import math

from analytics.detectors._math import decay_alpha, squash
from analytics.errors import DetectorInputError

_DAY_S = 86_400.0
_MAD_TO_SIGMA = 1.25


class LegacyUnivariateDetector:
    """Streaming anomaly score of a single metric from its timestamp and value alone."""

    def __init__(
        self,
        *,
        level_half_life_s: float = _DAY_S,
        local_half_life_s: float = 900.0,
        dev_half_life_s: float = 3_600.0,
        season_period_s: float = _DAY_S,
        season_half_life_s: float = 2 * _DAY_S,
        bins: int = 24,
        warmup: int = 30,
        clip: float = 4.0,
        shift_z: float = 4.0,
        shift_run: int = 5,
        min_dev: float = 1e-6,
    ) -> None:
        for name, value in (
            ("level_half_life_s", level_half_life_s),
            ("local_half_life_s", local_half_life_s),
            ("dev_half_life_s", dev_half_life_s),
            ("season_period_s", season_period_s),
            ("season_half_life_s", season_half_life_s),
            ("clip", clip),
            ("shift_z", shift_z),
            ("min_dev", min_dev),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value} must be a positive finite number")
        if bins < 1 or warmup < 2 or shift_run < 2:
            raise ValueError("bins must be ≥ 1, warmup ≥ 2 and shift_run ≥ 2")
        self.level_half_life_s = level_half_life_s
        self.local_half_life_s = local_half_life_s
        self.dev_half_life_s = dev_half_life_s
        self.season_period_s = season_period_s
        self.season_half_life_s = season_half_life_s
        self.bins = bins
        self.warmup = warmup
        self.clip = clip
        self.shift_z = shift_z
        self.shift_run = shift_run
        self.min_dev = min_dev
        self.n = 0
        self.last_t = math.nan
        self.level = 0.0
        self.local = 0.0
        self.dev = 0.0
        self.season = [0.0] * bins
        self.season_n = [0] * bins
        self._run_sign = 0
        self._run: list[float] = []

    # -- helpers -----------------------------------------------------------------------------
    def _check(self, t: float, x: float) -> None:
        if not math.isfinite(x):
            raise DetectorInputError(type(self).__name__, x, "value is NaN or infinite")
        if not math.isfinite(t):
            raise DetectorInputError(type(self).__name__, t, "timestamp is NaN or infinite")

    def _phase(self, t: float) -> tuple[int, int, float]:
        pos = (t % self.season_period_s) / self.season_period_s * self.bins - 0.5
        lo = math.floor(pos)
        frac = pos - lo
        return lo % self.bins, (lo + 1) % self.bins, frac

    def _seasonal(self, t: float) -> float:
        lo, hi, frac = self._phase(t)
        return self.season[lo] * (1.0 - frac) + self.season[hi] * frac

    def _scale(self) -> float:
        return max(self.dev, self.min_dev, 1e-3 * abs(self.level)) * _MAD_TO_SIGMA

    def _z(self, t: float, x: float) -> float:
        return (x - self.level - self.local - self._seasonal(t)) / self._scale()

    # -- the contract ------------------------------------------------------------------------
    def score_one(self, t: float, x: float) -> float:
        """Anomaly score of ``x`` at ``t`` in [0, 1); 0.0 while warming up. Does not learn."""
        self._check(t, x)
        if self.n < self.warmup:
            return 0.0
        return squash(self._z(t, x))

    def learn_one(self, t: float, x: float) -> None:
        """Update level, season and scale with ``x`` observed at ``t``."""
        self._check(t, x)
        if self.n == 0:
            self.level, self.last_t, self.n = x, t, 1
            return
        dt = max(t - self.last_t, 0.0)
        self.last_t = max(t, self.last_t)
        self.n += 1
        floor = 1.0 / self.n
        z = self._z(t, x) if self.n > self.warmup else 0.0
        limit = self.clip * self._scale() if self.n > self.warmup else math.inf
        seasonal = self._seasonal(t)
        err = x - self.level - self.local - seasonal
        clipped = max(-limit, min(limit, err))
        a_level = min(max(decay_alpha(dt, self.level_half_life_s), floor), 0.5)
        a_local = min(decay_alpha(dt, self.local_half_life_s), 0.9)
        a_dev = min(max(decay_alpha(dt, self.dev_half_life_s), floor), 0.5)
        self.dev += a_dev * (abs(clipped) - self.dev)
        base_err = max(-limit, min(limit, x - self.level - seasonal))
        self.level += a_level * base_err
        self.local += a_local * (max(-limit, min(limit, x - self.level - seasonal)) - self.local)
        self._learn_season(t, dt, x - self.level)
        self._track_shift(t, x, z)

    def _learn_season(self, t: float, dt: float, resid: float) -> None:
        if self.bins == 1:
            return
        lo, hi, frac = self._phase(t)
        bin_half_life = self.season_half_life_s / self.bins
        limit = self.clip * self._scale()
        resid = max(-limit, min(limit, resid))
        for b, w in ((lo, 1.0 - frac), (hi, frac)):
            if w <= 0.0:
                continue
            self.season_n[b] += 1
            a = min(max(decay_alpha(dt * w, bin_half_life), w / self.season_n[b]), 0.5)
            self.season[b] += a * (resid - self.season[b])
        visited = [v for v, n in zip(self.season, self.season_n, strict=True) if n]
        shift = sum(visited) / len(visited)
        self.season = [v - shift if n else v for v, n in zip(self.season, self.season_n, strict=True)]
        self.level += shift

    def _track_shift(self, t: float, x: float, z: float) -> None:
        sign = 1 if z > self.shift_z else -1 if z < -self.shift_z else 0
        if sign == 0 or sign != self._run_sign:
            self._run_sign = sign
            self._run = [x - self._seasonal(t)] if sign else []
            return
        self._run.append(x - self._seasonal(t))
        if len(self._run) >= self.shift_run:
            mean = sum(self._run) / len(self._run)
            spread = sum(abs(v - mean) for v in self._run) / len(self._run)
            self.level = mean
            self.local = 0.0
            self.dev = max(self.dev, spread)
            self._run_sign = 0
            self._run = []

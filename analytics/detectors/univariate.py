"""A generic streaming detector for one metric: any sampling rate, gaps, shifts, daily seasons.

Two stages, every window in seconds (a sample's weight depends on the seconds since the
previous one, so the same signal sampled at 1 s or 5 min gives the same model):

1. **Surprise** ``S`` of the sample, the largest of three robust z-scores against a long
   history (exponentially weighted mean and variance, half-life ``long_half_life_s``):
   the value itself; the mean of the last few minutes (half-life ``short_half_life_s``, the
   "short window vs long window" statistic of NAB's windowed Gaussian); and the residual from a
   time-of-day profile (``bins`` bins, half-life ``season_half_life_s``), so a value that is
   normal at noon but not at midnight is seen. A sample with ``S ≥ protect_z`` is learnt at
   a tenth of the weight (river's threshold filter idea), so a spike barely moves the model
   while a lasting level shift is still absorbed.
2. **Rank** of ``S`` against this stream's own history of surprises: a decayed histogram
   (48 log-spaced bins, half-life ``rank_half_life_s``). The score is ``1 − p`` with ``p`` the
   share of past surprises at least as large (one pseudo-count; beyond the largest ever seen
   ``p`` halves per bin; surprises seen during warm-up are not counted). This calibrates a
   noisy stream and a quiet one to the same scale, so one threshold fits many metrics: a
   score of 0.999 means rarer than one sample in 1,000 of this stream. ``S < 3`` scores 0.

**Alert hold.** Once the score passes ``fire_at``, for ``hold_s`` seconds a score only
passes through when its ``p`` is at least ``hold_margin`` times smaller than the one that
fired; others are divided by ten. The first detection of an incident is what matters; its
echoes would be false alarms.

Score 0.0 during warm-up (the first ``warmup_n`` samples and ``warmup_s`` seconds). A NaN or
±Inf value is a missing reading: it scores 0.0 and is not learnt (state untouched). A
non-numeric value or a non-finite timestamp raises :class:`DetectorInputError`. A timestamp
that goes backwards counts as no time elapsed. State is a fixed set of floats and two lists
of ``bins`` and 48 floats, whatever the stream's length.

Defaults were chosen on NAB's ``realAWSCloudwatch`` and ``artificialWithAnomaly`` categories
(``chargewatch bench nab``), one set for all files.
"""

from __future__ import annotations

import math

from analytics.errors import DetectorInputError

_DAY_S = 86_400.0
_LN2 = math.log(2.0)
_RANK_BINS = 48
_RANK_PER_OCTAVE = 4.0
_QUIET_Z = 3.0
_RESCALE_AT = 1e50
#: a gap of more than 100/ln2 ≈ 144 rank half-lives forgets the history (and cannot overflow)
_MAX_DECAY = 100.0
_EPS = 1e-12
# (score, surprise, time-of-day bin, seasonal residual, short mean, rank bin, rank growth)
_Eval = tuple[float, float, int, float, float, int, float]


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value} must be a positive finite number")


class UnivariateDetector:
    """Streaming anomaly score of a single metric from its timestamp and value alone."""

    def __init__(
        self,
        *,
        long_half_life_s: float = _DAY_S,
        short_half_life_s: float = 900.0,
        season_half_life_s: float = 3 * _DAY_S,
        bins: int = 48,
        rank_half_life_s: float = 3 * _DAY_S,
        warmup_s: float = 3_600.0,
        warmup_n: int = 30,
        protect_z: float = 6.0,
        fire_at: float = 0.9,
        hold_s: float = 12 * 3_600.0,
        hold_margin: float = 4.0,
    ) -> None:
        for name, value in (
            ("long_half_life_s", long_half_life_s),
            ("short_half_life_s", short_half_life_s),
            ("season_half_life_s", season_half_life_s),
            ("rank_half_life_s", rank_half_life_s),
            ("protect_z", protect_z),
            ("hold_margin", hold_margin),
        ):
            _positive(name, value)
        if bins < 1 or warmup_n < 2 or warmup_s < 0 or hold_s < 0 or not 0.0 < fire_at < 1.0:
            raise ValueError("need bins ≥ 1, warmup_n ≥ 2, warmup_s ≥ 0, hold_s ≥ 0 and 0 < fire_at < 1")
        self.warmup_s = warmup_s
        self.warmup_n = warmup_n
        self.protect_z = protect_z
        self.fire_at = fire_at
        self.hold_s = hold_s
        self.hold_margin = hold_margin
        self.bins = bins
        self._k_long = _LN2 / long_half_life_s
        self._k_short = _LN2 / short_half_life_s
        self._k_season = _LN2 * bins / season_half_life_s
        self._k_rank = _LN2 / rank_half_life_s
        self.n = 0
        self.t0 = 0.0
        self.last_t = 0.0
        self.mean = 0.0
        self.var = 0.0
        self.short = 0.0
        self.season = [0.0] * bins
        self.season_var = 0.0
        self.rank = [0.0] * _RANK_BINS
        self.rank_total = 0.0
        self.rank_growth = 1.0
        self.rank_top = 0
        self.fire_t = -math.inf
        self.fire_score = 0.0

    # -- the contract ------------------------------------------------------------------------
    def score_one(self, t: float, x: float) -> float:
        """Anomaly score of ``x`` at ``t`` in [0, 1]; 0.0 while warming up or for NaN/Inf. Pure."""
        if not self._finite(t, x) or self.n == 0:
            return 0.0
        return self._evaluate(t, x)[0]

    def learn_one(self, t: float, x: float) -> None:
        """Update the model with ``x`` observed at ``t``; a NaN or ±Inf value is skipped."""
        if not self._finite(t, x):
            return
        if self.n == 0:
            self._first(t, x)
            return
        self._apply(t, x, self._evaluate(t, x))

    def score_learn_one(self, t: float, x: float) -> float:
        """``score_one`` then ``learn_one`` in one pass (what a stream runner calls)."""
        if not self._finite(t, x):
            return 0.0
        if self.n == 0:
            self._first(t, x)
            return 0.0
        ev = self._evaluate(t, x)
        self._apply(t, x, ev)
        return ev[0]

    # -- internals ---------------------------------------------------------------------------
    def _finite(self, t: float, x: float) -> bool:
        try:
            if not math.isfinite(t):
                raise DetectorInputError(type(self).__name__, t, "timestamp is NaN or infinite")
            return math.isfinite(x)
        except TypeError as exc:
            raise DetectorInputError(type(self).__name__, x, "value is not a number") from exc

    def _first(self, t: float, x: float) -> None:
        self.n, self.t0, self.last_t, self.mean, self.short = 1, t, t, x, x

    def _evaluate(self, t: float, x: float) -> _Eval:
        dt = t - self.last_t if t > self.last_t else 0.0
        mean = self.mean
        floor = 1e-9 * abs(mean) + _EPS
        sd = math.sqrt(self.var) + floor
        dev = x - mean
        short = self.short + (1.0 - math.exp(-dt * self._k_short)) * (x - self.short)
        b = int((t % _DAY_S) * self.bins / _DAY_S)
        resid = dev - self.season[b]
        z_resid = resid / (math.sqrt(self.season_var) + floor)
        surprise = max(abs(dev) / sd, abs(short - mean) / sd, abs(z_resid))
        growth = self.rank_growth * math.exp(min(dt * self._k_rank, _MAX_DECAY))
        u = math.log2(1.0 + surprise) * _RANK_PER_OCTAVE
        rb = min(int(u), _RANK_BINS - 1)
        if surprise <= _QUIET_Z or self.n < self.warmup_n or t - self.t0 < self.warmup_s:
            return 0.0, surprise, b, resid, short, rb, growth
        hist = self.rank
        tail = hist[rb] * (1.0 - (u - rb)) + sum(hist[rb + 1 :])
        p = (tail + growth) / (self.rank_total + growth)
        if rb > self.rank_top:
            p *= 2.0 ** (self.rank_top + 1 - u)
        score = 1.0 - p
        if t - self.fire_t < self.hold_s and p * self.hold_margin > 1.0 - self.fire_score:
            score *= 0.1
        return score, surprise, b, resid, short, rb, growth

    def _apply(self, t: float, x: float, ev: _Eval) -> None:
        score, surprise, b, resid, short, rb, growth = ev
        dt = t - self.last_t if t > self.last_t else 0.0
        self.n += 1
        first = 1.0 / self.n
        weight = 1.0 if surprise < self.protect_z else 0.1
        a_long = max(1.0 - math.exp(-dt * self._k_long), first) * weight
        dev = x - self.mean
        self.mean += a_long * dev
        self.var += a_long * (dev * dev - self.var)
        self.season_var += a_long * (resid * resid - self.season_var)
        a_season = max(1.0 - math.exp(-dt * self._k_season), first) * weight
        self.season[b] += a_season * (dev - self.season[b])
        self.short = short
        self.last_t = max(t, self.last_t)
        if self.n <= self.warmup_n or t - self.t0 < self.warmup_s:
            return  # the surprises of a model still learning would drown later ones
        self.rank[rb] += growth
        self.rank_total += growth
        self.rank_top = max(self.rank_top, rb)
        self.rank_growth = growth
        if growth > _RESCALE_AT:
            self.rank = [c / growth for c in self.rank]
            self.rank_total /= growth
            self.rank_growth = 1.0
        if score > self.fire_at:
            self.fire_t, self.fire_score = t, score

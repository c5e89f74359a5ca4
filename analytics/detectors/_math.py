"""Small numeric helpers shared by the detectors: time-aware smoothing and score squashing."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
#: a time: one for every port, or one per port (ports of piles polled at different moments)
Times = float | FloatArray

#: robust z below which a score is exactly 0 (ordinary noise)
Z_QUIET = 3.0
#: robust z above Z_QUIET at which the score reaches 0.5
Z_HALF = 3.0


def decay_alpha(dt: float, half_life: float) -> float:
    """Weight of a new sample in an EWMA with ``half_life`` seconds after ``dt`` seconds."""
    if dt <= 0.0:
        return 0.0
    return 1.0 - math.exp2(-dt / half_life)


def decay_alpha_v(dt: FloatArray, half_life: float) -> FloatArray:
    """Vectorised :func:`decay_alpha`."""
    out: FloatArray = 1.0 - np.exp2(-np.maximum(dt, 0.0) / half_life)
    return out


def per_port(t: Times, ports: int) -> FloatArray:
    """``t`` as one time per port (a fresh array)."""
    out: FloatArray = np.full(ports, t) if isinstance(t, float | int) else np.array(t, dtype=np.float64)
    return out


def squash(z: float) -> float:
    """Score in [0, 1) from a robust z: 0 up to ``Z_QUIET``, 0.5 at ``Z_QUIET + Z_HALF``."""
    excess = abs(z) - Z_QUIET
    if excess <= 0.0 or math.isnan(excess):
        return 0.0
    if math.isinf(excess):
        return 1.0
    return excess * excess / (excess * excess + Z_HALF * Z_HALF)


def squash_v(z: FloatArray) -> FloatArray:
    """Vectorised :func:`squash`."""
    excess = np.maximum(np.abs(z) - Z_QUIET, 0.0)
    sq = excess * excess
    out: FloatArray = sq / (sq + Z_HALF * Z_HALF)
    return out

"""Session-level model: an IsolationForest over the features of normal charging sessions.

Rows are buffered by ``learn_one`` and the forest is refitted every ``refit_every`` rows once
``min_rows`` are known (seeded, so two runs agree). Scoring goes through :meth:`score_many`:
one-row IsolationForest calls cost milliseconds, a batch costs microseconds per row, so the
pipeline scores all running sessions together. A fitted model persists as versioned bytes.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.ensemble import IsolationForest

from analytics.detectors._math import FloatArray
from analytics.errors import CheckpointError, DetectorInputError

#: features of a session, in model column order
FEATURES: tuple[str, ...] = ("energy_kwh", "duration_s", "peak_w", "temp_rise_c", "float_frac")
#: bump when FEATURES or their transform change: older persisted models are then refused
MODEL_VERSION = 1
_LOG_FEATURES = 3
_NORMAL_PATH = 0.5
_SPAN = 0.3


class SessionDetector:
    """Streaming anomaly score of charging sessions from their curve features."""

    def __init__(
        self,
        *,
        min_rows: int = 200,
        refit_every: int = 200,
        max_rows: int = 2_000,
        n_estimators: int = 50,
        seed: int = 0,
    ) -> None:
        if not 2 <= min_rows <= max_rows or refit_every < 1:
            raise ValueError("need 2 ≤ min_rows ≤ max_rows and refit_every ≥ 1")
        self.min_rows = min_rows
        self.refit_every = refit_every
        self.max_rows = max_rows
        self.n_estimators = n_estimators
        self.seed = seed
        self.rows: list[list[float]] = []
        self.since_fit = 0
        self.forest: IsolationForest | None = None

    @classmethod
    def _row(cls, x: Mapping[str, float]) -> list[float]:
        row = []
        for i, key in enumerate(FEATURES):
            value = x.get(key)
            if value is None or not math.isfinite(value):
                raise DetectorInputError(cls.__name__, value, f"feature {key} is missing, NaN or infinite")
            row.append(math.log1p(max(value, 0.0)) if i < _LOG_FEATURES else float(value))
        return row

    def fit(self, sessions: Sequence[Mapping[str, float]]) -> None:
        """Train on ``sessions`` known to be normal (replaces the buffered rows)."""
        self.rows = [self._row(x) for x in sessions][-self.max_rows :]
        self._refit()

    def _refit(self) -> None:
        self.since_fit = 0
        if len(self.rows) < self.min_rows:
            return
        forest = IsolationForest(
            n_estimators=self.n_estimators, max_samples=min(256, len(self.rows)), random_state=self.seed
        )
        forest.fit(np.asarray(self.rows))
        self.forest = forest

    def learn_one(self, t: float, x: Mapping[str, float]) -> None:
        """Buffer one finished normal session; refit when enough new rows arrived."""
        self.rows.append(self._row(x))
        del self.rows[: -self.max_rows]
        self.since_fit += 1
        if (self.forest is None and len(self.rows) >= self.min_rows) or self.since_fit >= self.refit_every:
            self._refit()

    def score_many(self, sessions: Sequence[Mapping[str, float]]) -> FloatArray:
        """Scores in [0, 1] of many sessions in one forest call; zeros until a model is fitted."""
        rows = [self._row(x) for x in sessions]
        if self.forest is None or not rows:
            return np.zeros(len(rows))
        raw = -self.forest.score_samples(np.asarray(rows))
        out: FloatArray = np.clip((raw - _NORMAL_PATH) / _SPAN, 0.0, 1.0)
        return out

    def score_one(self, t: float, x: Mapping[str, float]) -> float:
        """Score of one session (prefer :meth:`score_many` on hot paths)."""
        return float(self.score_many([x])[0])

    def to_bytes(self) -> bytes:
        """The detector with its fitted forest, tagged with :data:`MODEL_VERSION`."""
        return pickle.dumps({"model_version": MODEL_VERSION, "features": FEATURES, "detector": self})

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionDetector:
        """Restore :meth:`to_bytes` output; CheckpointError when corrupt or of another version."""
        try:
            blob = pickle.loads(data)  # noqa: S301 - our own persisted model, never remote input
        except Exception as exc:
            raise CheckpointError(f"session model is not readable: {exc}") from exc
        if not isinstance(blob, dict) or blob.get("model_version") != MODEL_VERSION:
            found = blob.get("model_version") if isinstance(blob, dict) else None
            raise CheckpointError(
                f"session model version {found!r} != {MODEL_VERSION}; retrain it on normal sessions"
            )
        detector = blob["detector"]
        if not isinstance(detector, cls) or blob.get("features") != FEATURES:
            raise CheckpointError("session model holds other features; retrain it on normal sessions")
        return detector

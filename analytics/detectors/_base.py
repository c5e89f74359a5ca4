"""The streaming detector contract (river's anomaly API) and the thresholding step.

A detector scores an observation *before* it learns it: ``score_one`` is pure (never
changes state) and returns a float in [0, 1], higher meaning more anomalous and 0.0 during
warm-up; ``learn_one`` updates the state and returns None. Deciding what is an anomaly is a
separate step (:class:`ThresholdFilter`) so that the model is protected from learning the
anomalies it flags. Every detector pickles, so a checkpoint carries its learning across a
gateway restart.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

X = TypeVar("X")
X_contra = TypeVar("X_contra", contravariant=True)


class Detector(Protocol[X_contra]):
    """A streaming anomaly detector over timestamped observations of type ``X``."""

    def learn_one(self, t: float, x: X_contra) -> None:
        """Update the model with the observation ``x`` made at ``t`` (seconds since the epoch)."""
        ...

    def score_one(self, t: float, x: X_contra) -> float:
        """Anomaly score of ``x`` at ``t`` in [0, 1] without learning it; 0.0 during warm-up."""
        ...


class ThresholdFilter(Generic[X]):
    """Flags observations whose score reaches ``threshold`` and learns only the others.

    ``protect_anomalies=False`` learns everything (the wrapped detector then adapts to level
    shifts through its own robustness instead of being shielded from them).
    """

    def __init__(
        self, detector: Detector[X], threshold: float = 0.5, *, protect_anomalies: bool = True
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold {threshold} must be in (0, 1]")
        self.detector = detector
        self.threshold = threshold
        self.protect_anomalies = protect_anomalies

    def classify(self, score: float) -> bool:
        """True when ``score`` marks an anomaly."""
        return score >= self.threshold

    def score_one(self, t: float, x: X) -> float:
        """The wrapped detector's score."""
        return self.detector.score_one(t, x)

    def learn_one(self, t: float, x: X) -> None:
        """Learn ``x`` unless it is an anomaly and anomalies are protected against."""
        if self.protect_anomalies and self.classify(self.detector.score_one(t, x)):
            return
        self.detector.learn_one(t, x)

    def process_one(self, t: float, x: X) -> bool:
        """Score, classify, then learn (when allowed): the usual per-sample step."""
        anomalous = self.classify(self.detector.score_one(t, x))
        if not (anomalous and self.protect_anomalies):
            self.detector.learn_one(t, x)
        return anomalous

"""Exceptions raised by the analytics package."""

from __future__ import annotations

from chargewatch.errors import ChargeWatchError


class AnalyticsError(ChargeWatchError):
    """Base of the errors the analytics raise on purpose."""


class DetectorInputError(AnalyticsError):
    """A detector was given a value it cannot score (NaN, ±Inf, wrong shape)."""

    def __init__(self, detector: str, value: object, reason: str) -> None:
        super().__init__(f"{detector}: cannot use input {value!r}: {reason}")
        self.detector = detector
        self.value = value
        self.reason = reason


class CheckpointError(AnalyticsError):
    """A checkpoint or a persisted model could not be restored (corrupt, wrong version)."""

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


class UnknownAlertError(AnalyticsError):
    """An acknowledge named an alert id that is not active."""

    def __init__(self, alert_id: str) -> None:
        super().__init__(f"no active alert with id {alert_id!r}; list active alerts to find its id")
        self.alert_id = alert_id

"""Charging sessions: curve tracking, records with fees, and the session-level model."""

from analytics.sessions.model import FEATURES, MODEL_VERSION, SessionDetector
from analytics.sessions.records import Fee, SessionRecord, Tariff, fee
from analytics.sessions.tracker import SessionConfig, SessionTracker

__all__ = [
    "FEATURES",
    "MODEL_VERSION",
    "Fee",
    "SessionConfig",
    "SessionDetector",
    "SessionRecord",
    "SessionTracker",
    "Tariff",
    "fee",
]

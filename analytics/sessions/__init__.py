"""Charging sessions: curve tracking, records, tariffs with itemised fees, and the session-level model."""

from analytics.sessions.model import FEATURES, MODEL_VERSION, SessionDetector
from analytics.sessions.records import END_REASONS, SessionRecord
from analytics.sessions.tariff import SLOTS, Band, Fee, Period, PeriodFee, Tariff, money
from analytics.sessions.tracker import SessionConfig, SessionTracker

__all__ = [
    "END_REASONS",
    "FEATURES",
    "MODEL_VERSION",
    "SLOTS",
    "Band",
    "Fee",
    "Period",
    "PeriodFee",
    "SessionConfig",
    "SessionDetector",
    "SessionRecord",
    "SessionTracker",
    "Tariff",
    "money",
]

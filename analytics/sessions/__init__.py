"""Charging sessions: curve tracking, records, and tariffs with itemised fees."""

from analytics.sessions.records import END_REASONS, SessionRecord
from analytics.sessions.tariff import SLOTS, Band, Fee, Period, PeriodFee, Tariff, money
from analytics.sessions.tracker import SessionConfig, SessionTracker

__all__ = [
    "END_REASONS",
    "SLOTS",
    "Band",
    "Fee",
    "Period",
    "PeriodFee",
    "SessionConfig",
    "SessionRecord",
    "SessionTracker",
    "Tariff",
    "money",
]

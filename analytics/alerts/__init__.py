"""Alert lifecycle (pending → firing → resolved, acknowledge) and flood-proof grouping."""

from analytics.alerts.grouping import Grouper, Notification
from analytics.alerts.lifecycle import (
    AlertChange,
    AlertManager,
    AlertSpec,
    Condition,
    Evidence,
    Severity,
    alert_key,
)

__all__ = [
    "AlertChange",
    "AlertManager",
    "AlertSpec",
    "Condition",
    "Evidence",
    "Grouper",
    "Notification",
    "Severity",
    "alert_key",
]

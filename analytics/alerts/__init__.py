"""Alert lifecycle (pending → firing → resolved); grouping and notification are the gateway's
(``gateway.notify``)."""

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
    "Severity",
    "alert_key",
]

"""Grouping of alert changes into notifications, so a flood becomes a handful of messages.

Changes that fire or resolve are collected per (kind, severity, state); a group is sent as
one :class:`Notification` once its first change is ``group_wait_s`` old (Alertmanager's
group_wait). 500 ports crossing the same threshold at once thus make one notification per
kind, listing the count, the affected devices and the alert ids. Pending changes notify nobody.
"""

from __future__ import annotations

import msgspec

from analytics.alerts.lifecycle import AlertChange, Severity, State


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """One message to the people who act: ``count`` alerts of one kind changed state."""

    kind: str
    severity: Severity
    state: State
    count: int
    first_ts: float
    devices: list[str]
    alert_ids: list[str]
    truncated: bool


class Grouper:
    """Collects alert changes and flushes them as grouped notifications."""

    def __init__(self, group_wait_s: float = 30.0, max_ids: int = 50) -> None:
        self.group_wait_s = group_wait_s
        self.max_ids = max_ids
        self._groups: dict[tuple[str, str, str], list[AlertChange]] = {}

    def add(self, changes: list[AlertChange]) -> None:
        """Queue the changes worth notifying."""
        for change in changes:
            if change.state == "pending":
                continue
            self._groups.setdefault((change.kind, change.severity, change.state), []).append(change)

    def flush(self, now: float, *, force: bool = False) -> list[Notification]:
        """Notifications of the groups that waited ``group_wait_s`` (all of them with ``force``)."""
        out: list[Notification] = []
        for key, items in list(self._groups.items()):
            first = min(c.ts for c in items)
            if not force and now - first < self.group_wait_s:
                continue
            del self._groups[key]
            devices = sorted({c.device for c in items})
            out.append(
                Notification(
                    kind=key[0],
                    severity=items[0].severity,
                    state=items[0].state,
                    count=len(items),
                    first_ts=first,
                    devices=devices[: self.max_ids],
                    alert_ids=[c.id for c in items[: self.max_ids]],
                    truncated=len(items) > self.max_ids or len(devices) > self.max_ids,
                )
            )
        return out

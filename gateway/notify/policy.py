"""When to send what: pure decisions over an injected time, no I/O (tests advance the clock).

:class:`GroupPolicy` serves the chat robots and the webhook: alerts of one site that change
within ``group_s`` go out as one message, and one condition (device, port, kind) is told at
most once per ``rate_limit_s`` unless the alert that was told changes state (firing →
resolved always goes through). A condition that flaps back within the limit is held; when
the limit ends it is told once, with how often it recurred, if it is still firing.

:class:`ResendPolicy` serves Alertmanager, which groups, silences and repeats by itself but
expects its clients to re-post every firing alert periodically (as Prometheus does): every
change posts at once, and the whole set of firing (and recently resolved) alerts is posted
again every ``resend_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from gateway.notify._item import NotifyItem


class Policy(Protocol):
    """What a notify worker asks of its policy."""

    def offer(self, items: Sequence[NotifyItem], now: float) -> int:
        """Take new alert changes; returns how many were held back (rate limit)."""
        ...

    def due(self, now: float) -> list[list[NotifyItem]]:
        """The messages to send now, each a list of alerts."""
        ...

    def next_due(self) -> float | None:
        """When :meth:`due` will next have something (None: only after new changes)."""
        ...

    def drain(self) -> list[list[NotifyItem]]:
        """Everything still waiting (shutdown)."""
        ...


@dataclass
class _Told:
    at: float
    id: str
    state: str


@dataclass
class _Group:
    deadline: float
    items: list[NotifyItem] = field(default_factory=list)


class GroupPolicy:
    """Grouping per site and a rate limit per condition (see the module doc)."""

    def __init__(self, group_s: float, rate_limit_s: float) -> None:
        self.group_s = group_s
        self.rate_limit_s = rate_limit_s
        self._groups: dict[str, _Group] = {}
        self._told: dict[str, _Told] = {}
        self._held: dict[str, NotifyItem] = {}

    def offer(self, items: Sequence[NotifyItem], now: float) -> int:
        held = 0
        for item in items:
            told = self._told.get(item.key)
            if (
                told is None
                or now - told.at >= self.rate_limit_s
                or (item.id == told.id and item.state != told.state)
            ):
                self._held.pop(item.key, None)
                self._add(item, now)
            else:
                before = self._held.get(item.key)
                repeats = (before.repeats if before else 0) + (item.state == "firing" and item.id != told.id)
                self._held[item.key] = msgspec.structs.replace(item, repeats=repeats)
                held += 1
        return held

    def _add(self, item: NotifyItem, now: float) -> None:
        self._told[item.key] = _Told(now, item.id, item.state)
        group = self._groups.get(item.site)
        if group is None:
            group = self._groups[item.site] = _Group(now + self.group_s)
        group.items.append(item)

    def _release(self, now: float) -> None:
        for key, item in list(self._held.items()):
            told = self._told[key]
            if now - told.at < self.rate_limit_s:
                continue
            del self._held[key]
            if item.state == "firing" and (item.id, item.state) != (told.id, told.state):
                self._add(item, now)
        limit = self.rate_limit_s
        for key in [k for k, t in self._told.items() if now - t.at >= limit and k not in self._held]:
            del self._told[key]

    def due(self, now: float) -> list[list[NotifyItem]]:
        self._release(now)
        out = []
        for site, group in list(self._groups.items()):
            if group.deadline <= now:
                out.append(group.items)
                del self._groups[site]
        return out

    def next_due(self) -> float | None:
        times = [g.deadline for g in self._groups.values()]
        times += [self._told[k].at + self.rate_limit_s for k in self._held]
        return min(times, default=None)

    def drain(self) -> list[list[NotifyItem]]:
        out = [g.items for g in self._groups.values()]
        self._groups.clear()
        return out


class ResendPolicy:
    """Post changes at once, and everything firing every ``resend_s`` (see the module doc)."""

    def __init__(self, resend_s: float, keep_resolved_s: float = 900.0) -> None:
        self.resend_s = resend_s
        self.keep_resolved_s = keep_resolved_s
        self._firing: dict[str, NotifyItem] = {}
        self._resolved: dict[str, tuple[NotifyItem, float]] = {}  # id → (item, posted until)
        self._changed = False
        self._next: float | None = None

    def offer(self, items: Sequence[NotifyItem], now: float) -> int:
        for item in items:
            if item.state == "firing":
                before = self._firing.get(item.id)
                first = before.first_ts if before else item.first_ts
                self._firing[item.id] = msgspec.structs.replace(item, first_ts=first)
                self._resolved.pop(item.id, None)
            else:
                before = self._firing.pop(item.id, None)
                first = before.first_ts if before else item.first_ts
                resolved = msgspec.structs.replace(item, first_ts=first)
                self._resolved[item.id] = (resolved, now + self.keep_resolved_s)
            self._changed = True
        return 0

    def due(self, now: float) -> list[list[NotifyItem]]:
        if not self._changed and (self._next is None or now < self._next):
            return []
        self._resolved = {k: v for k, v in self._resolved.items() if v[1] > now}
        batch = [*self._firing.values(), *(item for item, _ in self._resolved.values())]
        self._changed = False
        self._next = now + self.resend_s if batch else None
        return [batch] if batch else []

    def next_due(self) -> float | None:
        if self._changed:
            return float("-inf")
        return self._next

    def drain(self) -> list[list[NotifyItem]]:
        if not self._changed:
            return []
        self._changed = False
        return [[*self._firing.values(), *(item for item, _ in self._resolved.values())]]

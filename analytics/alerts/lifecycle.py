"""Alert lifecycle: pending → firing → resolved, deduplicated, confirmed, with hysteresis.

Rules report, per evaluation of one device, the conditions that hold now (sparse: only the
ports where something is wrong). The :class:`AlertManager` turns them into state changes:

* a condition first seen opens an alert in ``pending``; it fires once it has held for the
  kind's ``for_s`` (minimum duration / confirmation window; 0 fires at once);
* a firing alert resolves only after its condition has been absent for ``clear_s``
  (hysteresis in time; the rules add hysteresis in value);
* a pending alert whose condition disappears resolves at once (it never fired);
* one alert per dedupe key ``device/port/kind``; its ``id`` (key plus start second) is stable
  over the episode, so repeats and severity escalations update the same alert;
* evidence (the port's last raw samples) is captured when the alert opens and fires.

These ids and states are the pipeline's own bookkeeping. What operators see is one lifecycle:
the gateway's alert book (``gateway.ingest.alerts.AlertBook``) turns these changes, and those
of the gateway's own rules, into published alerts with ids stable across restarts, and is the
one place an alert is acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Literal

import msgspec

from chargewatch.logs import kv
from chargewatch.messages import Alert

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
State = Literal["pending", "firing", "resolved"]
Evidence = list[dict[str, float | str | None]]
EvidenceFn = Callable[[int | None], Evidence]
_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class AlertSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Timing of one alert kind: confirmation before firing, clear time before resolving."""

    for_s: float = 30.0
    clear_s: float = 60.0


class Condition(msgspec.Struct, frozen=True, array_like=True):
    """A condition a rule sees now on ``port`` (None: the whole device)."""

    port: int | None
    kind: str
    severity: Severity
    message: str


class AlertChange(msgspec.Struct, frozen=True, kw_only=True):
    """One state change of one alert, as the gateway publishes and stores it."""

    id: str
    key: str
    device: str
    port: int | None
    kind: str
    severity: Severity
    state: State
    ts: float
    since: float
    message: str
    evidence: Evidence = msgspec.field(default_factory=list)

    def to_message(self) -> Alert:
        """The MQTT ``Alert`` message of this change."""
        return Alert(
            id=self.id,
            device=self.device,
            kind=self.kind,
            severity=self.severity,
            state=self.state,
            ts=self.ts,
            port=self.port,
            message=self.message,
            evidence=self.evidence,
        )


def alert_key(device: str, port: int | None, kind: str) -> str:
    """The dedupe key of a condition: ``device/port/kind`` (``-`` for device-wide)."""
    return f"{device}/{'-' if port is None else port}/{kind}"


class AlertManager:
    """Open alerts of every device and the rules that move them between states."""

    def __init__(
        self, specs: Mapping[str, AlertSpec] | None = None, default: AlertSpec | None = None
    ) -> None:
        self.specs = dict(specs or {})
        self.default = default or AlertSpec()
        self._open: dict[str, AlertChange] = {}
        self._cleared_at: dict[str, float] = {}
        self._by_device: dict[str, set[str]] = {}

    def _spec(self, kind: str) -> AlertSpec:
        return self.specs.get(kind, self.default)

    def _emit(self, alert: AlertChange, **changes: object) -> AlertChange:
        new = msgspec.structs.replace(alert, **changes)
        if new.state == "resolved":
            self._open.pop(new.key, None)
            self._cleared_at.pop(new.key, None)
            keys = self._by_device.get(new.device)
            if keys is not None:
                keys.discard(new.key)
                if not keys:
                    del self._by_device[new.device]
        else:
            self._open[new.key] = new
            self._by_device.setdefault(new.device, set()).add(new.key)
        log.info(kv("alert_" + new.state, id=new.id, kind=new.kind, severity=new.severity, ts=new.ts))
        return new

    def evaluate(
        self,
        ts: float,
        device: str,
        kinds: Collection[str],
        conditions: list[Condition],
        evidence: EvidenceFn,
    ) -> list[AlertChange]:
        """Apply the ``conditions`` seen on ``device`` at ``ts`` by rules owning ``kinds``.

        Open alerts of ``device`` with a kind in ``kinds`` and no matching condition are clear.
        """
        out: list[AlertChange] = []
        seen: set[str] = set()
        for cond in conditions:
            key = alert_key(device, cond.port, cond.kind)
            seen.add(key)
            change = self._active(ts, device, key, cond, evidence)
            if change is not None:
                out.append(change)
        for key in list(self._by_device.get(device, ())):
            alert = self._open[key]
            if key not in seen and alert.kind in kinds:
                change = self._inactive(ts, alert)
                if change is not None:
                    out.append(change)
        return out

    def _active(
        self, ts: float, device: str, key: str, cond: Condition, evidence: EvidenceFn
    ) -> AlertChange | None:
        spec = self._spec(cond.kind)
        self._cleared_at.pop(key, None)
        alert = self._open.get(key)
        if alert is None:
            alert = AlertChange(
                id=f"{key}@{int(ts)}",
                key=key,
                device=device,
                port=cond.port,
                kind=cond.kind,
                severity=cond.severity,
                state="pending",
                ts=ts,
                since=ts,
                message=cond.message,
                evidence=evidence(cond.port),
            )
            if spec.for_s <= 0.0:
                return self._emit(alert, state="firing")
            return self._emit(alert)
        if alert.state == "pending":
            if ts - alert.since >= spec.for_s:
                sev = max(alert.severity, cond.severity, key=_RANK.__getitem__)
                return self._emit(
                    alert,
                    state="firing",
                    ts=ts,
                    severity=sev,
                    message=cond.message,
                    evidence=evidence(cond.port),
                )
            if _RANK[cond.severity] > _RANK[alert.severity]:
                self._open[key] = msgspec.structs.replace(alert, severity=cond.severity, message=cond.message)
            return None
        if _RANK[cond.severity] > _RANK[alert.severity]:
            return self._emit(
                alert, ts=ts, severity=cond.severity, message=cond.message, evidence=evidence(cond.port)
            )
        return None

    def _inactive(self, ts: float, alert: AlertChange) -> AlertChange | None:
        if alert.state == "pending":
            return self._emit(alert, state="resolved", ts=ts)
        cleared = self._cleared_at.setdefault(alert.key, ts)
        if ts - cleared >= self._spec(alert.kind).clear_s:
            return self._emit(alert, state="resolved", ts=ts, evidence=[])
        return None

    def resolve_device(self, ts: float, device: str, kinds: Collection[str]) -> list[AlertChange]:
        """Resolve at once every open alert of ``device`` whose kind is in ``kinds``."""
        keys = [k for k in self._by_device.get(device, ()) if self._open[k].kind in kinds]
        return [self._emit(self._open[k], state="resolved", ts=ts, evidence=[]) for k in keys]

    def is_open(self, device: str, port: int | None, kind: str) -> bool:
        """True while an alert of ``kind`` on ``device``/``port`` is pending or firing."""
        return alert_key(device, port, kind) in self._open

    def devices(self) -> Collection[str]:
        """Devices that have an open alert."""
        return self._by_device.keys()

    def active(self) -> list[AlertChange]:
        """Every pending or firing alert, oldest first."""
        return sorted(self._open.values(), key=lambda a: (a.since, a.key))

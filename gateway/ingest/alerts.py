"""Alert plumbing: the analytics seam, a built-in threshold rule, and the persisted alert book.

The gateway calls an :class:`Analytics` per accepted message and once per tick; each returns
:class:`AlertChange` items keyed by a stable ``key`` (device, port, kind). The :class:`AlertBook`
turns changes into alerts with ids (``{key}.{n}``, ``n`` counting episodes of that key), stores
them in the ingest state so an alert is published and stored once per id across restarts, and
answers acknowledgements from the HTTP API.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal, Protocol, cast

import msgspec

from chargewatch.logs import kv
from chargewatch.messages import Alert, Event, Telemetry
from gateway.ingest.state import AlertRow, ChangeRow, IngestState

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
AlertState = Literal["pending", "firing", "resolved"]


class AlertChange(msgspec.Struct, frozen=True, kw_only=True):
    """One state change of the condition ``kind`` on (device, port)."""

    device: str
    kind: str
    state: AlertState
    severity: Severity
    ts: float
    port: int | None = None
    message: str = ""
    evidence: list[dict[str, float | str | None]] = msgspec.field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.device}.{'-' if self.port is None else self.port}.{self.kind}"


class Analytics(Protocol):
    """What the gateway needs from the analytics pipeline (pure computation, no I/O)."""

    def process_telemetry(self, msg: Telemetry) -> Sequence[AlertChange]: ...

    def process_batch(self, msgs: Sequence[Telemetry]) -> Sequence[AlertChange]:
        """The changes of consecutive telemetry messages, in order (one call per received batch)."""
        ...

    def process_event(self, msg: Event) -> Sequence[AlertChange]: ...

    def tick(self, now: float) -> Sequence[AlertChange]: ...


class ThresholdRule:
    """``point`` above ``limit`` for ``samples`` samples in a row fires; below ``clear_below`` resolves."""

    def __init__(
        self, point: str = "socket_temp", limit: float = 80.0, clear_below: float = 70.0, samples: int = 3
    ) -> None:
        self.point = point
        self.limit = limit
        self.clear_below = clear_below
        self.samples = samples
        self._runs: dict[tuple[str, int], list[float]] = {}  # values above the limit, in a row
        self._firing: set[tuple[str, int]] = set()
        self._active: dict[str, int] = {}  # ports with a run or firing, per device

    def process_telemetry(self, msg: Telemetry) -> list[AlertChange]:
        col = msg.ports.get(self.point)
        if not col:
            return []
        if not self._active.get(msg.device) and _peak(col) <= self.limit:
            return []  # the common case: nothing hot, nothing open
        out: list[AlertChange] = []
        for port, value in enumerate(col):
            if value is None:
                continue
            key = (msg.device, port)
            run = self._runs.get(key)
            if value > self.limit:
                if run is None:
                    run = self._runs[key] = []
                run.append(value)
                del run[: -self.samples]
                if len(run) >= self.samples and key not in self._firing:
                    self._firing.add(key)
                    out.append(self._change(msg, port, "firing", run))
            else:
                self._runs.pop(key, None)
                if key in self._firing and value < self.clear_below:
                    self._firing.discard(key)
                    out.append(self._change(msg, port, "resolved", [value]))
        self._active[msg.device] = sum(1 for k in (*self._runs, *self._firing) if k[0] == msg.device)
        return out

    def process_batch(self, msgs: Sequence[Telemetry]) -> list[AlertChange]:
        out: list[AlertChange] = []
        for msg in msgs:
            out += self.process_telemetry(msg)
        return out

    def _change(self, msg: Telemetry, port: int, state: AlertState, values: list[float]) -> AlertChange:
        return AlertChange(
            device=msg.device,
            port=port,
            kind=f"{self.point}_high",
            state=state,
            severity="critical",
            ts=msg.ts,
            message=f"{self.point} {values[-1]:.1f} (limit {self.limit:.1f} for {self.samples} samples)",
            evidence=[{self.point: v} for v in values],
        )

    def process_event(self, msg: Event) -> list[AlertChange]:
        return []

    def tick(self, now: float) -> list[AlertChange]:
        return []


def _peak(col: list[float | None]) -> float:
    """The largest value of a column (0.0 when all are None)."""
    if None in col:
        return max((v for v in col if v is not None), default=0.0)
    return max(cast(list[float], col))


class AlertBook:
    """The one alert lifecycle of the gateway: ids, states, history and acknowledgement.

    Every alert source (the analytics pipeline, the threshold rule, liveness, the store check)
    feeds :class:`AlertChange` items here; :meth:`apply` returns the alert to publish and store.
    Ids are ``{device}.{port|-}.{kind}.{n}`` with ``n`` counting episodes of that key, persisted,
    so an operator can refer to an alert across restarts. Changes move forward in source time:

    * a change older than the open alert's last change is refused (it cannot resolve it);
    * a condition no newer than the end of the key's last episode cannot re-open it;

    so data that arrives after the live stream has moved on never rewrites history. Each
    published change is appended to the ingest state with the alert row, in one transaction;
    :meth:`IngestPipeline.replay_alerts` re-stores exactly those changes.
    """

    def __init__(self, state: IngestState) -> None:
        self._state = state
        self.refused = 0

    def _refuse(self, change: AlertChange, reason: str, ts: float) -> None:
        self.refused += 1
        log.info(
            kv("alert_change_refused", key=change.key, state=change.state, ts=change.ts, reason=reason, at=ts)
        )

    def apply(self, change: AlertChange) -> Alert | None:
        """The Alert to publish for ``change``, or None when it repeats or rewrites history."""
        key = change.key
        current = self._state.open_alert(key)
        if current is not None and change.ts < current.ts:
            self._refuse(change, "older_than_alert", current.ts)
            return None
        if change.state == "resolved":
            if current is None:
                return None
            row = msgspec.structs.replace(current, state="resolved", ts=change.ts)
        elif current is not None:
            if current.state in {change.state, "firing"}:
                return None
            row = msgspec.structs.replace(current, state=change.state, ts=change.ts, message=change.message)
        else:
            ended = self._state.last_resolved_ts(key)
            if ended is not None and change.ts <= ended:
                self._refuse(change, "reopen_from_old_data", ended)
                return None
            n = self._state.alert_seq(key) + 1
            row = AlertRow(
                id=f"{key}.{n}",
                key=key,
                device=change.device,
                port=change.port,
                kind=change.kind,
                severity=change.severity,
                state=change.state,
                first_ts=change.ts,
                ts=change.ts,
                message=change.message,
                acked_at=None,
                acked_by=None,
            )
        published = ChangeRow(
            id=row.id,
            device=row.device,
            port=row.port,
            kind=row.kind,
            severity=change.severity,
            state=change.state,
            ts=change.ts,
            message=change.message,
        )
        self._state.book_alert(row, published)
        log.info(kv("alert_" + row.state, id=row.id, device=row.device, port=row.port, kind=row.kind))
        return Alert(
            id=row.id,
            device=row.device,
            kind=row.kind,
            severity=change.severity,
            state=change.state,
            ts=change.ts,
            port=row.port,
            message=change.message,
            evidence=change.evidence,
        )

    def acknowledge(self, alert_id: str, user: str, now: float) -> AlertRow:
        """Mark an alert acknowledged; KeyError when no such alert exists."""
        row = self._state.get_alert(alert_id)
        if row is None:
            raise KeyError(alert_id)
        if row.acked_at is None:
            row = msgspec.structs.replace(row, acked_at=now, acked_by=user)
            self._state.upsert_alert(row)
            log.info(kv("alert_acknowledged", id=alert_id, user=user))
        return row

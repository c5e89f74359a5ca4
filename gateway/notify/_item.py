"""What a notification is about: one alert state change, with what a person needs to act on it.

Built once from the :class:`chargewatch.messages.Alert` the ingest pipeline publishes (or from
an open alert of the alert book at start-up), so every channel renders the same facts.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

import msgspec

from chargewatch.messages import Alert
from gateway.ingest.state import AlertRow

NotifyState = Literal["firing", "resolved"]
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


class NotifyItem(msgspec.Struct, frozen=True, kw_only=True):
    """One alert state change to tell people about."""

    id: str
    site: str
    device: str
    port: int | None  # 0-based as on the wire; people see :func:`printed_port`
    kind: str
    severity: Literal["info", "warning", "critical"]
    state: NotifyState
    ts: float  # when this state began
    first_ts: float  # when the alert began firing (== ts for a firing change)
    message: str
    evidence: dict[str, float | str | None] = msgspec.field(default_factory=dict)
    url: str = ""  # the evidence link on the gateway's dashboard
    repeats: int = 0  # further episodes of the same condition held back by the rate limit

    @property
    def key(self) -> str:
        """The condition (site, device, port, kind), stable across the alert's episodes."""
        return f"{self.site}/{self.device}.{'-' if self.port is None else self.port}.{self.kind}"


def printed_port(port: int | None) -> int | None:
    """The port number as printed on the pile: the wire (and the profiles) count from 0."""
    return None if port is None else port + 1


def evidence_url(public_url: str, alert_id: str) -> str:
    """The alert's page on the gateway's dashboard."""
    return f"{public_url.rstrip('/')}/#/alerts/{quote(alert_id, safe='')}"


def _last_sample(alert: Alert) -> dict[str, float | str | None]:
    """The newest evidence sample of the alert's own port (or the newest of any port)."""
    for sample in reversed(alert.evidence):
        if alert.port is None or sample.get("port") in {None, float(alert.port)}:
            return dict(sample)
    return {}


def from_alert(alert: Alert, site: str, public_url: str, first_ts: float | None = None) -> NotifyItem | None:
    """The item of a published alert; None for ``pending`` (nobody is told before it fires)."""
    if alert.state == "pending":
        return None
    return NotifyItem(
        id=alert.id,
        site=site,
        device=alert.device,
        port=alert.port,
        kind=alert.kind,
        severity=alert.severity,
        state=alert.state,
        ts=alert.ts,
        first_ts=alert.ts if first_ts is None else first_ts,
        message=alert.message,
        evidence=_last_sample(alert),
        url=evidence_url(public_url, alert.id),
    )


def from_row(row: AlertRow, site: str, public_url: str) -> NotifyItem | None:
    """The item of an alert still firing in the alert book (re-announced after a restart)."""
    if row.state != "firing":
        return None
    return NotifyItem(
        id=row.id,
        site=site,
        device=row.device,
        port=row.port,
        kind=row.kind,
        severity="info" if row.severity == "info" else "warning" if row.severity == "warning" else "critical",
        state="firing",
        ts=row.ts,
        first_ts=row.first_ts,
        message=row.message,
        url=evidence_url(public_url, row.id),
    )

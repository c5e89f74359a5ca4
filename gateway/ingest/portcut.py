"""``port_cut``: a port switched off by the pile's own protection or by the agent's interlock.

A cut is a fact, not a condition that comes and goes: the alert (severity critical) fires on
the cut and stays firing — latched — until someone acknowledges it; the acknowledgement
resolves it (:func:`ack_resolution`). Ids follow the alert book's scheme,
``{device}.{port}.port_cut.{n}``, one episode per cut.

Two sources:

* the agent's ``interlock`` event for a port (the agent switched the relay off): every
  accepted one counts, late ones too — a cut during an outage reaches the gateway in the
  backlog and must still page (the alert book refuses it only if it is older than the end of
  the port's last cut episode);
* the pile's per-port ``fault_code`` turning to a protective trip (every label of the profile's
  ``fault_code`` except ``none``, ``remote_stop`` and ``timeout``, which are an operator's and
  a policy's stops): judged on the live stream only, on the change from the previous code. After
  a gateway restart the previous code is unknown; a trip code then pages unless the port's
  newest ``port_cut`` episode was raised for that same code (an acknowledged cut that is still
  latched in the pile does not page again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from chargewatch.messages import DeviceMessage, Event, Telemetry
from chargewatch.profiles import DeviceProfile
from gateway.ingest.alerts import AlertChange
from gateway.ingest.state import AlertRow

log = logging.getLogger(__name__)

KIND = "port_cut"
LATCHED = frozenset({KIND})
#: fault-code labels that stop a port without a protective trip
NOT_A_CUT = frozenset({"none", "remote_stop", "timeout"})
#: the newest alert of a key (None when the key never had one)
NewestAlert = Callable[[str], AlertRow | None]


def _pile_message(label: str, code: int) -> str:
    return f"port cut by the pile: {label} (fault code {code})"


class PortCuts:
    """Finds port cuts in accepted messages; feed every batch to :meth:`observe`."""

    def __init__(self, profiles: Mapping[str, DeviceProfile], newest: NewestAlert) -> None:
        self.trips: dict[str, dict[int, str]] = {}
        for model, profile in profiles.items():
            point = profile.by_name.get("fault_code")
            if point is not None and point.per_port and point.values:
                self.trips[model] = {
                    int(code): label for code, label in point.values.items() if label not in NOT_A_CUT
                }
        self._newest = newest
        self.codes: dict[str, list[float | None]] = {}  # last fault codes per pile (live stream)

    def observe(self, accepted: Sequence[DeviceMessage], live: Sequence[DeviceMessage]) -> list[AlertChange]:
        """``port_cut`` changes: interlock events of ``accepted``, trips in ``live`` telemetry."""
        out: list[AlertChange] = []
        for msg in accepted:
            if isinstance(msg, Event) and msg.kind == "interlock" and msg.port is not None:
                out.append(self._interlock(msg))
        for msg in live:
            if isinstance(msg, Telemetry):
                out += self._pile(msg)
        return out

    def _interlock(self, ev: Event) -> AlertChange:
        d = ev.data
        what = f"{d.get('rule', 'interlock')} {d.get('value', '')} (limit {d.get('limit', '')})"
        done = "" if d.get("verified", True) else f"; relay NOT confirmed off: {d.get('error', '')}"
        return _change(ev.device, ev.port, ev.ts, f"port cut by the agent's interlock: {what}{done}")

    def _pile(self, msg: Telemetry) -> list[AlertChange]:
        trips = self.trips.get(msg.model)
        col = msg.ports.get("fault_code")
        if not trips or col is None:
            return []
        before = self.codes.get(msg.device)
        self.codes[msg.device] = list(col)
        out: list[AlertChange] = []
        for port, value in enumerate(col):
            if value is None:
                continue
            code = int(value)
            label = trips.get(code)
            if label is None:
                continue
            if before is not None:
                prev = before[port] if port < len(before) else None
                if prev is not None and int(prev) == code:
                    continue  # the same trip as the last sample: nothing new
            elif self._already_raised(msg.device, port, code, label):
                continue
            out.append(_change(msg.device, port, msg.ts, _pile_message(label, code)))
        return out

    def _already_raised(self, device: str, port: int, code: int, label: str) -> bool:
        """After a restart: the port's newest cut episode was raised for this very code."""
        row = self._newest(f"{device}.{port}.{KIND}")
        return row is not None and row.message == _pile_message(label, code)


def _change(device: str, port: int | None, ts: float, message: str) -> AlertChange:
    return AlertChange(
        device=device, port=port, kind=KIND, state="firing", severity="critical", ts=ts, message=message
    )


def ack_resolution(row: AlertRow, user: str, source_ts: float | None) -> AlertChange | None:
    """The change that resolves a latched alert on acknowledgement (None for other alerts).

    It carries the device's newest source time (never before the alert's own), so the stored
    history stays in source time like every other change.
    """
    if row.kind not in LATCHED or row.state == "resolved":
        return None
    return AlertChange(
        device=row.device,
        port=row.port,
        kind=row.kind,
        state="resolved",
        severity="critical",
        ts=max(row.ts, source_ts if source_ts is not None else row.ts),
        message=f"acknowledged by {user}",
    )

"""Scoring alerts against ground-truth labels: recall, precision, lead, false-alert rate.

Definitions (what ``chargewatch eval`` reports):

* **Fault episode** — one injected fault on (device, port): ``onset``, for hazards
  (thermal/electrical) ``critical`` when the physical hazard was reached (absent if the run
  ended or the firmware cut the port first), for sensor/device faults ``end`` when it has a
  duration. ``port`` None is a whole-device fault.
* **Alert** — one alert episode (one alert id) at the time it first *fires* (pending never
  counts). ``port`` None is a device-wide alert.
* **Match** — an alert matches an episode when it is on the same device, on the same port
  (or either side is device-wide) and its kind is in :data:`DETECTS` of the fault kind: the
  alert kinds that fault physically causes. Besides the obvious ones: a battery heating
  itself towards runaway is a failing battery, whose charge never reaches float or climbs
  again after it (DOMAIN.md, "What an early warning can see"), so the curve alerts count for
  it; a short circuit heats the contact it runs through, so overheating alerts count for a
  short; a blocker whose camera failed detects nothing, so its detection drought counts too.
* **Detection** — a matching alert firing in the *detection window*: ``onset`` … ``critical +
  GRACE_S`` for hazards that reached critical, otherwise ``onset`` … ``end`` (or the end of
  the run). Recall = detected episodes / episodes; also shown over the episodes that reached
  critical (a hazard the simulator injected but that never developed — e.g. a connector fault
  on a port whose charge had ended, so no current ever heats it — has no physical signature).
* **Lead** = ``critical − first detection``; only episodes that reached critical have one.
  **Fixed baseline** = first time, at or after onset, that the decoded ``socket_temp`` of the
  port stayed ≥ 80 °C for 30 s (:class:`evaluation.baseline.FixedThreshold`);
  ``lead_vs_fixed = fixed baseline − first detection``, where a baseline that never fired is
  replaced by ``critical`` (or the window end) and counted in ``fixed_never_fired``.
* **Explained alert** — a matching alert firing while the episode is *active*: ``onset`` …
  ``end`` for faults with an end, else to the end of the run (a damaged connector or battery
  stays damaged). Every other alert is a **false alert**. Precision of a fault kind =
  alerts explained by its episodes / (those + false alerts of a kind in its :data:`DETECTS`).
* **Sensor faults reported as overheating** — alerts of an :data:`OVERHEATING` kind firing on a
  port (or device-wide) while a sensor-fault episode on that port is active.
* **Normal port-hours** — the hours of every pile port with no active episode on it or on its
  whole device. The false-alert rate counts every false alert (piles and blockers) per 1,000
  normal port-hours.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from firmware_sim.faults import KINDS, Label

GRACE_S: Final = 600.0
OVERHEATING: Final = frozenset(
    {"socket_overtemp", "temp_rising_fast", "thermal_residual", "port_hotter_than_neighbours"}
)
_CURVE: Final = frozenset({"session_no_float", "power_after_float", "oversized_battery", "session_anomaly"})
_CURRENT: Final = frozenset({"overcurrent", "current_spike"})
#: fault kind → alert kinds that count as detecting it
DETECTS: Final[dict[str, frozenset[str]]] = {
    "connector_overheat": OVERHEATING,
    "thermal_runaway_precursor": OVERHEATING | _CURVE | {"smoke", "power_creep"},
    "overcharge": OVERHEATING | _CURVE,
    "oversized_battery": _CURVE,
    "overcurrent_spike": _CURRENT,
    "short": _CURRENT | OVERHEATING,
    "sensor_stuck": frozenset({"sensor_fault"}),
    "sensor_dropout": frozenset({"sensor_fault"}),
    "sensor_garbage": frozenset({"sensor_fault"}),
    "pile_unresponsive": frozenset({"device_offline"}),
    "blocker_camera_fault": frozenset({"blocker_camera_fault", "blocker_no_detections"}),
    "blocker_relay_stuck": frozenset({"blocker_relay_stuck", "blocker_door_held"}),
    "blocker_offline": frozenset({"device_offline"}),
}
HAZARDS: Final = tuple(k for k, s in KINDS.items() if s.category in {"thermal", "electrical"})
THERMAL: Final = tuple(k for k, s in KINDS.items() if s.category == "thermal")


@dataclass(slots=True)
class Episode:
    """One injected fault and its labelled times."""

    device: str
    port: int | None
    kind: str
    onset: float
    critical: float | None = None
    end: float | None = None

    @property
    def hazard(self) -> bool:
        """True for thermal and electrical faults."""
        return self.kind in HAZARDS

    def window_end(self, run_end: float) -> float:
        """Last moment a matching alert counts as a detection."""
        if self.hazard and self.critical is not None:
            return self.critical + GRACE_S
        return self.end if self.end is not None else run_end

    def active_end(self, run_end: float) -> float:
        """Last moment the fault explains an alert."""
        return self.end if self.end is not None else run_end


@dataclass(frozen=True, slots=True)
class AlertFired:
    """One alert episode at the time it first fired."""

    id: str
    device: str
    port: int | None
    kind: str
    ts: float


@dataclass(slots=True)
class Run:
    """Everything one replayed scenario produced, in scorer terms."""

    start: float
    end: float
    ports: Mapping[str, int]
    episodes: list[Episode]
    alerts: list[AlertFired]
    #: (device, port) → start times of the fixed-threshold baseline's firings
    fixed: Mapping[tuple[str, int], Sequence[float]] = field(default_factory=dict)


@dataclass(slots=True)
class KindScore:
    """Figures of one fault kind."""

    episodes: int = 0
    detected: int = 0
    explained: int = 0
    false: int = 0
    leads: list[float] = field(default_factory=list)
    vs_fixed: list[float] = field(default_factory=list)
    reached_critical: int = 0
    detected_critical: int = 0
    fixed_never_fired: int = 0

    def summary(self) -> dict[str, float | None]:
        """The JSON figures of this kind (None where undefined)."""
        shown = self.explained + self.false
        return {
            "recall": self.detected / self.episodes if self.episodes else None,
            "recall_reached_critical": (
                self.detected_critical / self.reached_critical if self.reached_critical else None
            ),
            "precision": self.explained / shown if shown else None,
            "median_lead_s": statistics.median(self.leads) if self.leads else None,
            "worst_lead_s": min(self.leads) if self.leads else None,
            "median_lead_vs_fixed_s": statistics.median(self.vs_fixed) if self.vs_fixed else None,
        }


@dataclass(slots=True)
class Score:
    """Totals over every scored run."""

    kinds: dict[str, KindScore] = field(default_factory=lambda: {k: KindScore() for k in KINDS})
    false_alerts: int = 0
    false_by_alert_kind: dict[str, int] = field(default_factory=dict)
    normal_port_hours: float = 0.0
    sensor_as_overheating: int = 0

    def summary(self) -> dict[str, object]:
        """The JSON document of ``chargewatch eval --json``."""
        rate = 1000.0 * self.false_alerts / self.normal_port_hours if self.normal_port_hours else None
        return {
            "kinds": {k: s.summary() for k, s in self.kinds.items()},
            "false_alerts_per_1000_port_hours": rate,
            "sensor_faults_reported_as_overheating": self.sensor_as_overheating,
        }


def episodes_from(labels: Iterable[Label]) -> list[Episode]:
    """Pair onset/critical/end labels into episodes (one per device, port and kind onset)."""
    out: list[Episode] = []
    open_: dict[tuple[str, int | None, str], Episode] = {}
    for lab in sorted(labels, key=lambda lb: lb.t):
        key = (lab.device, lab.port, lab.kind)
        if lab.event == "onset":
            open_[key] = ep = Episode(lab.device, lab.port, lab.kind, lab.t)
            out.append(ep)
        elif key in open_:
            if lab.event == "critical":
                open_[key].critical = lab.t
            else:
                open_[key].end = lab.t
    return out


def _same_place(ep: Episode, alert: AlertFired) -> bool:
    return alert.device == ep.device and (alert.port is None or ep.port is None or alert.port == ep.port)


def _normal_hours(run: Run) -> float:
    total = 0.0
    for device, ports in run.ports.items():
        for port in range(ports):
            spans = sorted(
                (ep.onset, ep.active_end(run.end))
                for ep in run.episodes
                if ep.device == device and ep.port in {None, port}
            )
            busy, cursor = 0.0, run.start
            for onset, until in spans:
                lo = max(onset, cursor)
                if until > lo:
                    busy += until - lo
                    cursor = until
            total += (run.end - run.start - busy) / 3600.0
    return total


def score_run(run: Run, score: Score) -> None:
    """Add one run's episodes and alerts to ``score``."""
    score.normal_port_hours += _normal_hours(run)
    for ep in run.episodes:
        ks = score.kinds[ep.kind]
        ks.episodes += 1
        wanted = DETECTS[ep.kind]
        end = ep.window_end(run.end)
        hits = [
            a.ts for a in run.alerts if a.kind in wanted and _same_place(ep, a) and ep.onset <= a.ts <= end
        ]
        if ep.critical is not None:
            ks.reached_critical += 1
        if not hits:
            continue
        ks.detected += 1
        first = min(hits)
        if ep.critical is not None:
            ks.detected_critical += 1
            ks.leads.append(ep.critical - first)
        if ep.port is not None and ep.hazard:
            fired = [f for f in run.fixed.get((ep.device, ep.port), ()) if f >= ep.onset]
            if fired:
                ks.vs_fixed.append(min(fired) - first)
            else:
                ks.fixed_never_fired += 1
                ks.vs_fixed.append((ep.critical if ep.critical is not None else end) - first)
    for alert in run.alerts:
        explained = False
        for ep in run.episodes:
            active = _same_place(ep, alert) and ep.onset <= alert.ts <= ep.active_end(run.end)
            if active and alert.kind in DETECTS[ep.kind]:
                explained = True
                score.kinds[ep.kind].explained += 1
                break
        if explained:
            continue
        score.false_alerts += 1
        score.false_by_alert_kind[alert.kind] = score.false_by_alert_kind.get(alert.kind, 0) + 1
        for kind, wanted in DETECTS.items():
            if alert.kind in wanted:
                score.kinds[kind].false += 1
        if alert.kind in OVERHEATING and any(
            KINDS[ep.kind].category == "sensor"
            and _same_place(ep, alert)
            and ep.onset <= alert.ts <= ep.active_end(run.end)
            for ep in run.episodes
        ):
            score.sensor_as_overheating += 1

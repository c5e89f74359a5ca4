"""Scoring alerts against ground-truth labels: recall, precision, lead, false-alert rate.

Definitions (what ``chargewatch eval`` reports); which alert is credited to which fault is
decided only by :mod:`evaluation.explains`:

* **Fault episode** — one injected fault on (device, port): ``onset``, for hazards
  (thermal/electrical) ``critical`` when the physical hazard was reached (absent if the run
  ended or the firmware cut the port first), for sensor/device faults ``end`` when it has a
  duration. ``port`` None is a whole-device fault. ``severity`` names the swept parameter and
  its value (``factor=1.3``) when the suite sweeps the kind.
* **Alert** — one alert episode (one alert id) at the time it first *fires* (pending never
  counts). ``port`` None is a device-wide alert.
* **Detection** — an alert that :func:`~evaluation.explains.detects` the episode firing at or
  after ``onset`` and strictly **before** ``critical`` (no grace: an alert after the hazard
  was reached warns nobody); for an episode that never reached critical, before its ``end``
  (or the end of the run). Recall = detected episodes / episodes; also shown over the
  episodes that reached critical. The one exception is :data:`FIRST_SIGN_S`: kinds whose
  critical moment *is* their first observable sign (the first over-limit current of a spike
  or a short, labelled at onset): nothing can precede it, so they are reported, not
  predicted — a detection within that many seconds after critical counts, and their "lead"
  is negative (minus the time to report).
* **Lead** = ``critical − first detection``; only detected episodes that reached critical
  have one. **Fixed baseline** = first time, at or after onset, that the decoded
  ``socket_temp`` of the port stayed ≥ 80 °C for 30 s (:class:`evaluation.baseline.FixedThreshold`);
  ``lead_vs_fixed = fixed baseline − first detection`` only for detected episodes where the
  baseline fired; the episodes where it never fired are counted apart (``fixed_never_fired``)
  and have no lead over it — nothing is substituted for the missing firing.
* **Explained alert** — an alert that :func:`~evaluation.explains.explains` an episode active
  at its time: ``onset`` … ``end`` for faults with an end, else to the end of the run (a
  damaged connector or battery stays damaged). Every other alert is a **false alert**.
  Precision of a fault kind = alerts explained by its episodes / (those + false alerts of a
  kind it explains); precision of an alert kind = its explained alerts / its alerts.
* **Sensor faults reported as overheating** — alerts of an :data:`OVERHEATING` kind firing on
  the port of an active sensor-fault episode.
* **Charging port-hours** — the time pile ports spent charging (decoded ``state`` =
  charging at a poll counts the poll interval) with no active episode on that port or its
  whole device. **Site-days** — the length of every scored run (one run is one site: piles
  sharing one ambient and one feed). The false-alert rates count every false alert (piles and
  blockers) per 1,000 charging port-hours and per 1,000 site-days.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from evaluation.explains import EXPLAINS, OVERHEATING, detects, explains
from firmware_sim.faults import KINDS, Label

HAZARDS: Final = tuple(k for k, s in KINDS.items() if s.category in {"thermal", "electrical"})
THERMAL: Final = tuple(k for k, s in KINDS.items() if s.category == "thermal")
#: kinds whose critical label is their first observable sign → seconds after it a report counts
FIRST_SIGN_S: Final[dict[str, float]] = {"overcurrent_spike": 300.0, "short": 300.0}
Span = tuple[float, float]


@dataclass(slots=True)
class Episode:
    """One injected fault and its labelled times."""

    device: str
    port: int | None
    kind: str
    onset: float
    critical: float | None = None
    end: float | None = None
    #: the swept parameter and its value, e.g. "factor=1.3" ("" when not swept)
    severity: str = ""

    @property
    def hazard(self) -> bool:
        """True for thermal and electrical faults."""
        return self.kind in HAZARDS

    def window_end(self, run_end: float) -> float:
        """Detections must come before this moment (the critical time when it was reached)."""
        if self.critical is not None:
            return self.critical + FIRST_SIGN_S.get(self.kind, 0.0)
        return self.active_end(run_end)

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
    #: (device, port) → sorted, disjoint spans during which the port was charging
    charging: Mapping[tuple[str, int], Sequence[Span]] = field(default_factory=dict)
    #: which scenario this was (e.g. "seed 1000 normal-…"), for the list of false alerts
    name: str = ""


@dataclass(slots=True)
class KindScore:
    """Figures of one fault kind (or of one severity level of it)."""

    episodes: int = 0
    detected: int = 0
    explained: int = 0
    false: int = 0
    leads: list[float] = field(default_factory=list)
    vs_fixed: list[float] = field(default_factory=list)
    reached_critical: int = 0
    detected_critical: int = 0
    fixed_fired: int = 0
    fixed_never_fired: int = 0

    def summary(self) -> dict[str, float | int | None]:
        """The JSON figures of this kind (None where undefined)."""
        shown = self.explained + self.false
        return {
            "episodes": self.episodes,
            "recall": self.detected / self.episodes if self.episodes else None,
            "recall_reached_critical": (
                self.detected_critical / self.reached_critical if self.reached_critical else None
            ),
            "precision": self.explained / shown if shown else None,
            "median_lead_s": statistics.median(self.leads) if self.leads else None,
            "worst_lead_s": min(self.leads) if self.leads else None,
            "median_lead_vs_fixed_s": statistics.median(self.vs_fixed) if self.vs_fixed else None,
            "fixed_fired": self.fixed_fired,
            "fixed_never_fired": self.fixed_never_fired,
        }


@dataclass(slots=True)
class AlertKindScore:
    """How many alerts of one alert kind fired, and how many a fault explained."""

    fired: int = 0
    explained: int = 0

    def summary(self) -> dict[str, float | int | None]:
        """The JSON figures of this alert kind."""
        return {
            "fired": self.fired,
            "false": self.fired - self.explained,
            "precision": self.explained / self.fired if self.fired else None,
        }


@dataclass(slots=True)
class Score:
    """Totals over every scored run."""

    kinds: dict[str, KindScore] = field(default_factory=lambda: {k: KindScore() for k in KINDS})
    #: fault kind → severity → figures of the episodes of that level
    sweep: dict[str, dict[str, KindScore]] = field(default_factory=dict)
    alert_kinds: dict[str, AlertKindScore] = field(default_factory=dict)
    false_alerts: int = 0
    charging_port_hours: float = 0.0
    site_days: float = 0.0
    sensor_as_overheating: int = 0
    #: every false alert with its run's name and start, in scoring order (``eval --list-false``)
    false_list: list[tuple[str, float, AlertFired]] = field(default_factory=list)

    @property
    def false_by_alert_kind(self) -> dict[str, int]:
        """False alerts per alert kind (kinds with none left out)."""
        kinds = sorted(self.alert_kinds.items())
        return {k: s.fired - s.explained for k, s in kinds if s.fired > s.explained}

    def rate_per_1000_charging_port_hours(self) -> float | None:
        """False alerts per 1,000 charging port-hours (None with no charging time)."""
        hours = self.charging_port_hours
        return 1000.0 * self.false_alerts / hours if hours else None

    def summary(self) -> dict[str, object]:
        """The JSON document of ``chargewatch eval --json``."""
        days = self.site_days
        return {
            "kinds": {k: s.summary() for k, s in self.kinds.items()},
            "sweep": {
                kind: {sev: ks.summary() for sev, ks in levels.items()} for kind, levels in self.sweep.items()
            },
            "alert_kinds": {k: s.summary() for k, s in sorted(self.alert_kinds.items())},
            "false_alerts": self.false_alerts,
            "charging_port_hours": self.charging_port_hours,
            "site_days": days,
            "false_alerts_per_1000_charging_port_hours": self.rate_per_1000_charging_port_hours(),
            "false_alerts_per_1000_site_days": 1000.0 * self.false_alerts / days if days else None,
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


def _overlap(spans: Sequence[Span], holes: list[Span]) -> float:
    """Length of ``spans`` outside ``holes`` (both lists of (start, end))."""
    total = 0.0
    for lo, hi in spans:
        covered, cursor = 0.0, lo
        for h_lo, h_hi in sorted(holes):
            a, b = max(h_lo, cursor), min(h_hi, hi)
            if b > a:
                covered += b - a
                cursor = b
        total += (hi - lo) - covered
    return total


def _charging_hours(run: Run) -> float:
    total = 0.0
    for (device, port), spans in run.charging.items():
        holes = [
            (ep.onset, ep.active_end(run.end))
            for ep in run.episodes
            if ep.device == device and ep.port in {None, port}
        ]
        total += _overlap(spans, holes) / 3600.0
    return total


def _score_episode(ep: Episode, run: Run, ks: KindScore) -> None:
    ks.episodes += 1
    place = (ep.device, ep.port)
    end = ep.window_end(run.end)
    hits = [
        a.ts
        for a in run.alerts
        if ep.onset <= a.ts < end and detects(ep.kind, place, a.kind, (a.device, a.port))
    ]
    if ep.critical is not None:
        ks.reached_critical += 1
    if not hits:
        return
    ks.detected += 1
    first = min(hits)
    if ep.critical is not None:
        ks.detected_critical += 1
        ks.leads.append(ep.critical - first)
    if ep.port is not None and ep.hazard:
        fired = [f for f in run.fixed.get((ep.device, ep.port), ()) if f >= ep.onset]
        if fired:
            ks.fixed_fired += 1
            ks.vs_fixed.append(min(fired) - first)
        else:
            ks.fixed_never_fired += 1


def score_run(run: Run, score: Score) -> None:
    """Add one run's episodes and alerts to ``score``."""
    score.charging_port_hours += _charging_hours(run)
    score.site_days += (run.end - run.start) / 86_400.0
    for ep in run.episodes:
        _score_episode(ep, run, score.kinds[ep.kind])
        if ep.severity:
            _score_episode(ep, run, score.sweep.setdefault(ep.kind, {}).setdefault(ep.severity, KindScore()))
    for alert in run.alerts:
        aks = score.alert_kinds.setdefault(alert.kind, AlertKindScore())
        aks.fired += 1
        at = (alert.device, alert.port)
        active = [ep for ep in run.episodes if ep.onset <= alert.ts <= ep.active_end(run.end)]
        cause = next((ep for ep in active if explains(ep.kind, (ep.device, ep.port), alert.kind, at)), None)
        if cause is not None:
            aks.explained += 1
            score.kinds[cause.kind].explained += 1
            continue
        score.false_alerts += 1
        score.false_list.append((run.name, run.start, alert))
        for kind, wanted in EXPLAINS.items():
            if alert.kind in wanted:
                score.kinds[kind].false += 1
        if alert.kind in OVERHEATING and any(
            KINDS[ep.kind].category == "sensor" and (ep.device, ep.port) == at for ep in active
        ):
            score.sensor_as_overheating += 1

"""The targets ``chargewatch eval`` enforces (it exits 1 when one is missed).

* recall ≥ 95 % on every hazardous kind (default suite, all its severity levels pooled);
* weak suite: recall ≥ 90 % at every level at least as strong as a spike of 1.3 × the port
  limit and an overcharge taper floor of 0.3 (:data:`WEAK_FLOORS`);
* ≤ 0.5 false alerts per 1,000 charging port-hours (both suites);
* median lead over the fixed 80 °C / 30 s threshold ≥ 10 min on every hazardous kind, over
  the detected episodes where that threshold fired (kinds where it never fired have no figure);
* no sensor fault reported as overheating.
"""

from __future__ import annotations

from typing import Final

from evaluation.plan import SuiteName, parse_level
from evaluation.scoring import HAZARDS, Score

RECALL_MIN: Final = 0.95
WEAK_RECALL_MIN: Final = 0.90
#: weak suite: kind → (swept parameter, weakest level the weak-suite recall target covers);
#: a larger value is a stronger fault for both
WEAK_FLOORS: Final[dict[str, tuple[str, float]]] = {
    "overcurrent_spike": ("factor", 1.3),
    "overcharge": ("taper_floor", 0.3),
}
FALSE_PER_1000_MAX: Final = 0.5
LEAD_VS_FIXED_MIN_S: Final = 600.0


def missed_targets(score: Score, suite: SuiteName) -> list[str]:
    """One line per missed target (empty when every target is met)."""
    out: list[str] = []
    if suite == "default":
        for kind in HAZARDS:
            recall = score.kinds[kind].summary()["recall"]
            if recall is not None and recall < RECALL_MIN:
                out.append(f"MISSED TARGET: recall {recall:.0%} < {RECALL_MIN:.0%} on {kind}")
    else:
        for kind, (param, floor) in WEAK_FLOORS.items():
            for severity, ks in score.sweep.get(kind, {}).items():
                level = parse_level(severity)
                recall = ks.summary()["recall"]
                if level is None or level[0] != param or level[1] < floor - 1e-9 or recall is None:
                    continue
                if recall < WEAK_RECALL_MIN:
                    out.append(
                        f"MISSED TARGET: weak-suite recall {recall:.0%} < {WEAK_RECALL_MIN:.0%} "
                        f"on {kind} {severity}"
                    )
    rate = score.rate_per_1000_charging_port_hours()
    if rate is not None and rate > FALSE_PER_1000_MAX:
        out.append(
            f"MISSED TARGET: {rate:.2f} false alerts per 1,000 charging port-hours > {FALSE_PER_1000_MAX}"
        )
    for kind in HAZARDS:
        lead = score.kinds[kind].summary()["median_lead_vs_fixed_s"]
        if lead is not None and lead < LEAD_VS_FIXED_MIN_S:
            out.append(
                f"MISSED TARGET: median lead over the fixed 80 °C threshold {lead / 60:.1f} min "
                f"< {LEAD_VS_FIXED_MIN_S / 60:.0f} min on {kind} (where it fired)"
            )
    if score.sensor_as_overheating:
        out.append(f"MISSED TARGET: {score.sensor_as_overheating} sensor faults reported as overheating")
    return out

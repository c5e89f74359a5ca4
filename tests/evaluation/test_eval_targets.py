"""The targets ``chargewatch eval`` enforces, and the severity ladders of its suites."""

from __future__ import annotations

from evaluation import SWEEPS, Score, SuiteSize, missed_targets, scenarios
from evaluation.plan import parse_level, severity_of
from evaluation.scoring import HAZARDS, KindScore


def _met() -> Score:
    score = Score()
    for kind in HAZARDS:
        score.kinds[kind] = KindScore(episodes=10, detected=10)
    score.charging_port_hours = 10_000.0
    score.false_alerts = 5
    return score


def test_a_score_meeting_every_target_misses_none() -> None:
    assert missed_targets(_met(), "default") == []


def test_each_missed_target_is_named() -> None:
    score = _met()
    score.kinds["short"] = KindScore(episodes=20, detected=18)
    score.false_alerts = 6
    score.kinds["connector_overheat"].vs_fixed = [300.0, 500.0, 900.0]
    score.sensor_as_overheating = 1
    missed = missed_targets(score, "default")
    assert len(missed) == 4
    assert "recall 90% < 95% on short" in missed[0]
    assert "0.60 false alerts per 1,000 charging port-hours" in missed[1]
    assert "8.3 min < 10 min on connector_overheat" in missed[2]
    assert "1 sensor faults reported as overheating" in missed[3]


def test_weak_suite_recall_is_enforced_down_to_its_floors_only() -> None:
    score = _met()
    score.kinds["overcurrent_spike"] = KindScore(episodes=30, detected=10)  # pooled: not a weak target
    score.sweep["overcurrent_spike"] = {
        "factor=1.5": KindScore(episodes=10, detected=10),
        "factor=1.3": KindScore(episodes=10, detected=8),
        "factor=1.2": KindScore(episodes=10, detected=0),  # below the floor: reported, not enforced
    }
    score.sweep["overcharge"] = {"taper_floor=0.3": KindScore(episodes=10, detected=9)}
    assert missed_targets(score, "weak") == [
        "MISSED TARGET: weak-suite recall 80% < 90% on overcurrent_spike factor=1.3"
    ]
    assert any("overcurrent_spike" in line for line in missed_targets(score, "default"))


def test_the_weak_suite_injects_every_level_of_every_ladder() -> None:
    size = SuiteSize(hazard_faults=1, other_faults=0, hours=2.0, normal_days=0, suite="weak")
    plan = scenarios(1000, size)
    for kind, ladder in SWEEPS["weak"].items():
        (sc,) = [s for s in plan if s.faults and s.faults[0].kind == kind]
        levels = sorted(
            parse_level(severity_of(sc, f.device, f.port, f.kind)) or ("", 0.0) for f in sc.faults
        )
        assert levels == sorted(ladder), kind
    spikes = SWEEPS["weak"]["overcurrent_spike"]
    assert min(v for _, v in spikes) <= 1.2
    floors = [v for _, v in SWEEPS["weak"]["overcharge"]]
    assert min(floors) <= 0.2
    assert max(floors) >= 0.6

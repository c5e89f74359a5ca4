"""Scoring of alerts against labels on small hand-made sets."""

from __future__ import annotations

import pytest

from chargewatch.errors import ConfigError
from evaluation import AlertFired, Episode, Run, Score, episodes_from, plan_seeds, score_run
from evaluation.cli import _false_lines
from firmware_sim.faults.kinds import label

T0 = 1_000_000.0
END = T0 + 36_000.0


def _run(
    episodes: list[Episode],
    alerts: list[AlertFired],
    fixed: dict[tuple[str, int], list[float]],
    charging: dict[tuple[str, int], list[tuple[float, float]]] | None = None,
) -> Score:
    score = Score()
    run = Run(
        start=T0,
        end=END,
        ports={"p1": 10},
        episodes=episodes,
        alerts=alerts,
        fixed=fixed,
        charging=charging or {},
    )
    score_run(run, score)
    return score


def _alert(kind: str, ts: float, port: int | None = 3, device: str = "p1") -> AlertFired:
    return AlertFired(f"{device}/{port}/{kind}@{ts}", device, port, kind, ts)


def test_labels_pair_into_episodes() -> None:
    labels = [
        label("p1", 3, "connector_overheat", "critical", T0 + 900),
        label("p1", 3, "connector_overheat", "onset", T0 + 100),
        label("p1", 2, "sensor_stuck", "onset", T0 + 50),
        label("p1", 2, "sensor_stuck", "end", T0 + 500),
    ]
    eps = {e.kind: e for e in episodes_from(labels)}
    assert eps["connector_overheat"].onset == T0 + 100
    assert eps["connector_overheat"].critical == T0 + 900
    assert eps["sensor_stuck"].end == T0 + 500


def test_detection_lead_and_lead_over_fixed_threshold() -> None:
    ep = Episode("p1", 3, "connector_overheat", T0 + 1_000, critical=T0 + 4_000)
    alerts = [_alert("temp_rising_fast", T0 + 2_800), _alert("socket_overtemp", T0 + 3_000)]
    score = _run([ep], alerts, {("p1", 3): [T0 + 500, T0 + 3_500]})
    s = score.kinds["connector_overheat"].summary()
    assert s["recall"] == 1.0
    assert s["precision"] == 1.0
    assert s["median_lead_s"] == 1_200.0
    assert s["worst_lead_s"] == 1_200.0
    # the baseline's firing before the onset does not count: 3,500 − 2,800
    assert s["median_lead_vs_fixed_s"] == 700.0
    assert score.false_alerts == 0


def test_alert_after_critical_is_a_miss_and_wrong_kind_or_port_is_false() -> None:
    ep = Episode("p1", 3, "connector_overheat", T0 + 1_000, critical=T0 + 2_000)
    late = _alert("socket_overtemp", T0 + 2_000 + 60)  # the old scorer's 10-minute grace took it
    wrong_kind = _alert("overcurrent", T0 + 1_500)
    wrong_port = _alert("socket_overtemp", T0 + 1_500, port=4)
    score = _run([ep], [late, wrong_kind, wrong_port], {})
    ks = score.kinds["connector_overheat"]
    assert ks.detected == 0
    assert ks.explained == 1  # the late alert is explained (the port is still damaged), not a detection
    assert score.false_alerts == 2
    assert score.false_by_alert_kind == {"overcurrent": 1, "socket_overtemp": 1}
    assert ks.summary()["precision"] == 0.5


def test_an_alert_at_the_critical_moment_is_too_late() -> None:
    ep = Episode("p1", 3, "connector_overheat", T0 + 1_000, critical=T0 + 2_000)
    score = _run([ep], [_alert("socket_overtemp", T0 + 2_000)], {})
    assert score.kinds["connector_overheat"].detected == 0


def test_smoke_is_explained_by_a_runaway_but_never_detects_it() -> None:
    eps = [
        Episode("p1", 3, "thermal_runaway_precursor", T0 + 1_000, critical=T0 + 5_000),
        Episode("p1", 7, "thermal_runaway_precursor", T0 + 1_200, critical=T0 + 6_000),
    ]
    score = _run(eps, [_alert("smoke", T0 + 4_000, port=None)], {})
    ks = score.kinds["thermal_runaway_precursor"]
    assert (ks.detected, ks.explained, score.false_alerts) == (0, 1, 0)
    assert score.summary()["alert_kinds"] == {"smoke": {"fired": 1, "false": 0, "precision": 1.0}}


def test_a_pile_wide_alert_credits_no_port_fault_and_is_false() -> None:
    eps = [
        Episode("p1", 3, "connector_overheat", T0 + 1_000, critical=T0 + 5_000),
        Episode("p1", 6, "connector_overheat", T0 + 1_000, critical=T0 + 5_000),
    ]
    score = _run(eps, [_alert("socket_overtemp", T0 + 2_000, port=None)], {})
    assert score.kinds["connector_overheat"].detected == 0
    assert score.false_alerts == 1


def test_a_device_wide_fault_is_detected_by_a_device_wide_alert_only() -> None:
    ep = Episode("p1", None, "pile_unresponsive", T0 + 1_000, end=T0 + 2_000)
    on_port = _run([ep], [_alert("device_offline", T0 + 1_100, port=2)], {})
    assert on_port.kinds["pile_unresponsive"].detected == 0
    assert on_port.false_alerts == 1
    whole = _run([ep], [_alert("device_offline", T0 + 1_100, port=None)], {})
    assert whole.kinds["pile_unresponsive"].detected == 1
    assert whole.false_alerts == 0


def test_a_later_alert_on_a_faulty_port_is_explained_only_by_a_kind_the_fault_causes() -> None:
    ep = Episode("p1", 3, "overcurrent_spike", T0 + 1_000, critical=T0 + 1_100)
    alerts = [
        _alert("current_spike", T0 + 1_050),
        _alert("current_spike", T0 + 9_000),
        _alert("session_no_float", T0 + 9_000),  # a spiking contact does not keep a charge from float
        _alert("socket_overtemp", T0 + 9_500),
    ]
    score = _run([ep], alerts, {})
    ks = score.kinds["overcurrent_spike"]
    assert (ks.detected, ks.explained) == (1, 2)
    assert score.false_by_alert_kind == {"session_no_float": 1, "socket_overtemp": 1}
    assert [(start, a.kind, a.ts) for _, start, a in score.false_list] == [
        (T0, "session_no_float", T0 + 9_000),
        (T0, "socket_overtemp", T0 + 9_500),
    ]


def test_eval_list_false_names_the_run_the_hours_the_place_and_the_kind() -> None:
    score = Score()
    alerts = [_alert("thermal_residual", T0 + 5_400, port=4), _alert("smoke", T0 + 7_200, port=None)]
    score_run(
        Run(start=T0, end=END, ports={"p1": 10}, episodes=[], alerts=alerts, name="seed 1000 normal"), score
    )
    assert _false_lines(score) == [
        f"false alert: seed 1000 normal at 1.50 h (ts {T0 + 5_400:.0f}): p1 port 4 thermal_residual",
        f"false alert: seed 1000 normal at 2.00 h (ts {T0 + 7_200:.0f}): p1 pile-wide smoke",
    ]


def test_lead_over_the_fixed_threshold_only_where_it_fired() -> None:
    fired = Episode("p1", 3, "connector_overheat", T0 + 1_000, critical=T0 + 4_000)
    never = Episode("p1", 5, "connector_overheat", T0 + 1_000, critical=T0 + 9_000)
    alerts = [_alert("temp_rising_fast", T0 + 2_000), _alert("temp_rising_fast", T0 + 2_000, port=5)]
    score = _run([fired, never], alerts, {("p1", 3): [T0 + 2_600]})
    s = score.kinds["connector_overheat"].summary()
    # never substituted by the critical time (the old scorer gave a median of (600 + 7,000) / 2)
    assert s["median_lead_vs_fixed_s"] == 600.0
    assert (s["fixed_fired"], s["fixed_never_fired"]) == (1, 1)
    nothing = _run([never], [alerts[1]], {}).kinds["connector_overheat"].summary()
    assert nothing["median_lead_vs_fixed_s"] is None


def test_overheating_during_a_sensor_fault_is_counted() -> None:
    ep = Episode("p1", 3, "sensor_garbage", T0 + 100, end=T0 + 1_000)
    score = _run([ep], [_alert("sensor_fault", T0 + 200), _alert("thermal_residual", T0 + 300)], {})
    assert score.kinds["sensor_garbage"].detected == 1
    assert score.sensor_as_overheating == 1
    assert score.false_alerts == 1


def test_false_alerts_are_per_charging_port_hour_outside_faults_and_per_site_day() -> None:
    eps = [
        Episode("p1", 3, "sensor_stuck", T0, end=T0 + 3_600),
        Episode("p1", None, "pile_unresponsive", T0 + 7_200, end=T0 + 10_800),
    ]
    charging = {
        ("p1", 3): [(T0, T0 + 7_200)],  # 1 h of it inside the sensor fault
        ("p1", 4): [(T0 + 3_600, T0 + 14_400)],  # 1 h inside the silent pile
        ("p1", 5): [(T0 + 20_000, T0 + 21_800)],
    }
    false = [_alert("socket_overtemp", T0 + 30_000, port=8), _alert("overcurrent", T0 + 31_000, port=8)]
    score = _run(eps, false, {}, charging)
    assert score.charging_port_hours == pytest.approx(1 + 2 + 0.5)
    doc = score.summary()
    # idle hours never dilute the rate (the old scorer divided by 89 normal port-hours)
    assert doc["false_alerts_per_1000_charging_port_hours"] == pytest.approx(2000 / 3.5)
    assert doc["site_days"] == pytest.approx(10 / 24)
    assert doc["false_alerts_per_1000_site_days"] == pytest.approx(2000 / (10 / 24))


def test_severity_levels_are_scored_apart() -> None:
    eps = [
        Episode("p1", 1, "overcurrent_spike", T0 + 100, critical=T0 + 500, severity="factor=1.6"),
        Episode("p1", 2, "overcurrent_spike", T0 + 100, critical=T0 + 500, severity="factor=1.2"),
    ]
    score = _run(eps, [_alert("current_spike", T0 + 200, port=1)], {})
    sweep = score.summary()["sweep"]
    assert isinstance(sweep, dict)
    assert sweep["overcurrent_spike"]["factor=1.6"]["recall"] == 1.0
    assert sweep["overcurrent_spike"]["factor=1.2"]["recall"] == 0.0
    assert score.kinds["overcurrent_spike"].summary()["recall"] == 0.5


def test_evaluation_seeds_never_overlap_training_seeds() -> None:
    assert plan_seeds(5_000, 3, train=False) == [5_000, 5_001, 5_002]
    with pytest.raises(ConfigError, match="training seeds"):
        plan_seeds(1_998, 4, train=False)
    with pytest.raises(ConfigError, match="training range"):
        plan_seeds(1_999, 2, train=True)


def test_recall_is_also_shown_over_episodes_that_reached_critical() -> None:
    developed = Episode("p1", 3, "connector_overheat", T0 + 1_000, critical=T0 + 4_000)
    latent = Episode("p1", 5, "connector_overheat", T0 + 1_000)
    score = _run([developed, latent], [_alert("socket_overtemp", T0 + 3_000)], {})
    s = score.kinds["connector_overheat"].summary()
    assert s["recall"] == 0.5
    assert s["recall_reached_critical"] == 1.0


def test_a_short_is_reported_within_five_minutes_of_its_first_sign_not_predicted() -> None:
    # a short's critical label is its first over-limit current (at onset): nothing can precede it
    eps = [
        Episode("p1", 3, "short", T0 + 1_000, critical=T0 + 1_000),
        Episode("p1", 4, "short", T0 + 1_000, critical=T0 + 1_000),
    ]
    alerts = [_alert("overcurrent", T0 + 1_005), _alert("overcurrent", T0 + 1_000 + 301, port=4)]
    ks = _run(eps, alerts, {}).kinds["short"]
    assert ks.detected == 1
    assert ks.leads == [-5.0]

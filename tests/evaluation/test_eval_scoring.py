"""Scoring of alerts against labels on small hand-made sets."""

from __future__ import annotations

import pytest

from chargewatch.errors import ConfigError
from evaluation import AlertFired, Episode, Run, Score, episodes_from, plan_seeds, score_run
from evaluation.scoring import GRACE_S
from firmware_sim.faults.kinds import label

T0 = 1_000_000.0
END = T0 + 36_000.0


def _run(
    episodes: list[Episode], alerts: list[AlertFired], fixed: dict[tuple[str, int], list[float]]
) -> Score:
    score = Score()
    score_run(Run(start=T0, end=END, ports={"p1": 10}, episodes=episodes, alerts=alerts, fixed=fixed), score)
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


def test_alert_after_grace_is_a_miss_and_wrong_kind_or_port_is_false() -> None:
    ep = Episode("p1", 3, "connector_overheat", T0 + 1_000, critical=T0 + 2_000)
    late = _alert("socket_overtemp", T0 + 2_000 + GRACE_S + 10)
    wrong_kind = _alert("overcurrent", T0 + 1_500)
    wrong_port = _alert("socket_overtemp", T0 + 1_500, port=4)
    score = _run([ep], [late, wrong_kind, wrong_port], {})
    ks = score.kinds["connector_overheat"]
    assert ks.detected == 0
    assert ks.explained == 1  # the late alert is explained (the port is still damaged), not a detection
    assert score.false_alerts == 2
    assert score.false_by_alert_kind == {"overcurrent": 1, "socket_overtemp": 1}
    assert ks.summary()["precision"] == 0.5


def test_overheating_during_a_sensor_fault_is_counted() -> None:
    ep = Episode("p1", 3, "sensor_garbage", T0 + 100, end=T0 + 1_000)
    score = _run([ep], [_alert("sensor_fault", T0 + 200), _alert("thermal_residual", T0 + 300)], {})
    assert score.kinds["sensor_garbage"].detected == 1
    assert score.sensor_as_overheating == 1
    assert score.false_alerts == 1


def test_normal_port_hours_exclude_active_faults_and_whole_device_faults() -> None:
    eps = [
        Episode("p1", 3, "sensor_stuck", T0, end=T0 + 3_600),
        Episode("p1", None, "pile_unresponsive", T0 + 7_200, end=T0 + 10_800),
    ]
    score = _run(eps, [], {})
    assert score.normal_port_hours == pytest.approx(10 * 10 - 1 - 10)
    assert score.summary()["false_alerts_per_1000_port_hours"] == 0.0


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

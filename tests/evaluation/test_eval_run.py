"""A small ``chargewatch eval`` run end to end: simulator → agent decode → pipeline → scores."""

from __future__ import annotations

import json

import pytest

from analytics.pipeline import PipelineConfig
from chargewatch.messages import PORT_STATES, Telemetry
from evaluation import SWEEPS, Score, SuiteSize, Totals, scenarios, score_run
from evaluation.cli import main
from evaluation.runner import _profiles, run_scenario, track_charging
from evaluation.scoring import HAZARDS
from firmware_sim.faults.kinds import KINDS

KEYS = {
    "episodes",
    "fixed_fired",
    "fixed_never_fired",
    "recall",
    "recall_reached_critical",
    "precision",
    "median_lead_s",
    "worst_lead_s",
    "median_lead_vs_fixed_s",
}


@pytest.mark.timeout(120)
def test_small_eval_reports_every_kind_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--seed",
        "31337",
        "--hazard-faults",
        "1",
        "--other-faults",
        "1",
        "--hours",
        "2",
        "--normal-days",
        "0",
    ]
    rc = main([*argv, "--quiet", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("EVALUATION seeds: [31337]")
    missed = [line for line in out if line.startswith("MISSED TARGET")]
    assert rc == (1 if missed else 0)
    doc = json.loads(out[-1])
    assert {k for k in doc if k.startswith("false_alerts_per_1000")} == {
        "false_alerts_per_1000_charging_port_hours",
        "false_alerts_per_1000_site_days",
    }
    assert set(doc["kinds"]) == set(KINDS)
    for kind in HAZARDS:
        assert set(doc["kinds"][kind]) == KEYS
        # one fault per severity level: every level of the default ladder has its row
        assert doc["kinds"][kind]["episodes"] == len(SWEEPS["default"][kind]), kind
        assert set(doc["sweep"][kind]) == {f"{p}={v:g}" for p, v in SWEEPS["default"][kind]}
    assert doc["sensor_faults_reported_as_overheating"] == 0
    assert doc["charging_port_hours"] > 0.0
    assert doc["false_alerts_per_1000_charging_port_hours"] >= 0.0


def test_training_seeds_are_refused_for_evaluation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seed", "1500", "--suites", "1"]) == 2
    assert "training seeds" in capsys.readouterr().err


def _state(ts: float, states: list[float | None]) -> Telemetry:
    return Telemetry(device="p1", boot=1, seq=int(ts), ts=ts, model="cw-pile-10", ports={"state": states})


def test_charging_time_is_the_polls_a_port_reported_charging() -> None:
    spans: dict[tuple[str, int], list[list[float]]] = {}
    charging, idle = float(PORT_STATES["charging"]), float(PORT_STATES["idle"])
    for k, (a, b) in enumerate([(charging, idle)] * 4 + [(idle, idle)] + [(charging, charging)] * 2):
        track_charging(_state(100.0 + 5 * k, [a, b]), 5.0, spans)
    assert spans == {("p1", 0): [[95.0, 115.0], [120.0, 130.0]], ("p1", 1): [[120.0, 130.0]]}


@pytest.mark.timeout(120)
def test_a_replayed_normal_hour_counts_its_charging_port_hours() -> None:
    size = SuiteSize(hazard_faults=0, other_faults=0, normal_days=1, normal_hours=1.0)
    (scenario,) = scenarios(1000, size)
    run = run_scenario(
        scenario, 1000, size=size, config=PipelineConfig(), profiles=_profiles(), totals=Totals()
    )
    hours = sum(hi - lo for spans in run.charging.values() for lo, hi in spans) / 3600.0
    ports = sum(run.ports.values())
    assert 0.2 * ports < hours <= ports  # initial occupancy 0.3–0.7 of every port, an hour long
    score = Score()
    score_run(run, score)
    assert score.charging_port_hours == pytest.approx(hours)

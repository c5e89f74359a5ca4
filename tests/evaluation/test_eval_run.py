"""A small ``chargewatch eval`` run end to end: simulator → agent decode → pipeline → scores."""

from __future__ import annotations

import json

import pytest

from evaluation import SWEEPS
from evaluation.cli import main
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

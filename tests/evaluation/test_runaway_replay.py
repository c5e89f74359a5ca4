"""``battery_self_heating`` through the real path: simulated pile → agent decode → pipeline."""

from __future__ import annotations

import pytest

from analytics.pipeline import PipelineConfig
from evaluation import SuiteSize, Totals
from evaluation.runner import _profiles, run_scenario
from evaluation.scoring import Score, score_run
from firmware_sim.faults import DeviceSpec, FaultSpec, Scenario, validate_scenario
from firmware_sim.offline import SUMMER_MIDNIGHT

RUNAWAY_PORTS = range(4)
#: a charging locker full of lead-acid bikes; four of them head for runaway, ten minutes apart
SCENARIO = Scenario(
    name="runaway-locker",
    start_time=SUMMER_MIDNIGHT,
    duration_s=3 * 3_600.0,
    ambient="summer",
    devices=[
        DeviceSpec(
            id="p0",
            model="cw-pile-10",
            params={
                "chemistries": ["lead_acid_48"],
                "initial_occupancy": 1.0,
                "plug_rate_per_h": 0.0,
                "battery_coupling_w_per_k": 0.03,
                "temp_cut_c": 0.0,
            },
        )
    ],
    faults=[
        FaultSpec(
            device="p0",
            kind="thermal_runaway_precursor",
            onset_s=1_800.0 + 600.0 * port,
            port=port,
            params={"growth_s": 900.0},
        )
        for port in RUNAWAY_PORTS
    ],
)


@pytest.mark.timeout(120)
def test_a_self_heating_battery_is_reported_before_critical_and_only_on_its_port() -> None:
    scenario = validate_scenario(SCENARIO, "<test>")
    run = run_scenario(
        scenario,
        1_000,
        size=SuiteSize(poll_s=10.0),
        config=PipelineConfig(),
        profiles=_profiles(),
        totals=Totals(),
    )
    critical = {ep.port: ep.critical for ep in run.episodes}
    assert set(critical) == set(RUNAWAY_PORTS)
    assert all(c is not None for c in critical.values())
    heating = [a for a in run.alerts if a.kind == "battery_self_heating"]
    assert heating
    assert {a.port for a in heating} <= set(RUNAWAY_PORTS)  # no healthy port is accused
    early = [a for a in heating if a.ts < (critical[a.port] or 0.0)]
    assert early, "at least one battery reported before it reached 80 °C"
    score = Score()
    score_run(run, score)
    runaway = score.kinds["thermal_runaway_precursor"]
    assert runaway.episodes == len(RUNAWAY_PORTS)
    assert runaway.detected >= len(early)
    assert score.alert_kinds["battery_self_heating"].explained == len(heating)

"""``chargewatch eval --poll-s`` and ``--meter-error``: what they change in the replay."""

from __future__ import annotations

import itertools

import pytest

from chargewatch.errors import ConfigError
from evaluation.cli import _parser
from evaluation.plan import SuiteSize, scenarios
from evaluation.replay import Replay, with_meter_error
from firmware_sim.devices.params import pile_params
from firmware_sim.faults import DeviceSpec, Scenario
from firmware_sim.offline import SUMMER_MIDNIGHT

SCENARIO = Scenario(
    name="flags",
    start_time=SUMMER_MIDNIGHT,
    duration_s=1_200.0,
    ambient="summer",
    devices=[
        DeviceSpec(id="p0", model="cw-pile-10", params={"initial_occupancy": 1.0}),
        DeviceSpec(id="b0", model="cw-blocker"),
    ],
)


@pytest.mark.parametrize(
    "argv",
    [["--poll-s", "0.5"], ["--poll-s", "2.5"], ["--poll-s", "120"], ["--meter-error", "0.5"]],
)
def test_bad_flags_are_refused_with_the_problem_named(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(argv)
    assert exc.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_flags_parse() -> None:
    args = _parser().parse_args(["--poll-s", "2", "--meter-error", "-0.03"])
    assert (args.poll_s, args.meter_error) == (2.0, -0.03)


def test_meter_error_goes_to_every_pile_and_no_blocker() -> None:
    assert with_meter_error(SCENARIO, 0.0) is SCENARIO
    changed = with_meter_error(SCENARIO, 0.02)
    params = {d.id: d.params for d in changed.devices}
    assert params["p0"]["meter_gain_error"] == 0.02
    assert "meter_gain_error" not in params["b0"]
    assert params["p0"]["initial_occupancy"] == 1.0


def test_a_meter_error_beyond_ten_percent_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="meter_gain_error"):
        pile_params("p0", {"meter_gain_error": 0.2})


def _last_round(poll_s: float, meter_error: float) -> tuple[list[float], list[float], list[float]]:
    replay = Replay(SCENARIO, 1_000, poll_s, meter_error)
    times = []
    for rnd in replay.rounds():
        times.append(rnd.ts)
        pile = next(m for m in rnd.telemetry if m.device == "p0")
    energy = [float(e) for e in pile.ports["energy"] if e is not None]
    temps = [float(x) for x in pile.ports["socket_temp"] if x is not None]
    return times, energy, temps


def test_poll_interval_and_meter_error_change_only_what_they_name() -> None:
    times, truth, temps = _last_round(5.0, 0.0)
    assert len(times) == 1_200 / 5
    assert {round(b - a, 6) for a, b in itertools.pairwise(times)} == {5.0}
    fast, _, _ = _last_round(2.0, 0.0)
    assert len(fast) == 1_200 / 2
    _, high, temps_high = _last_round(5.0, 0.02)
    assert temps_high == temps
    charged = [(t, h) for t, h in zip(truth, high, strict=True) if t > 0.05]
    assert len(charged) >= 5
    for t, h in charged:
        assert h == pytest.approx(1.02 * t, abs=0.0011)


def test_kinds_runs_only_those_kinds_and_the_same_scenarios() -> None:
    args = _parser().parse_args(["--kinds", "thermal_runaway_precursor,short"])
    assert args.kinds == ("thermal_runaway_precursor", "short")
    size = SuiteSize(hazard_faults=1, other_faults=1, hours=2.0, normal_days=1)
    every = {sc.name: sc for sc in scenarios(1000, size)}
    only = scenarios(
        1000, SuiteSize(hazard_faults=1, other_faults=1, hours=2.0, normal_days=1, kinds=args.kinds)
    )
    names = [sc.name for sc in only]
    assert names == [n for n in every if not n.startswith("fault-")] + [
        "fault-thermal-runaway-precursor",
        "fault-short",
    ]
    assert all(sc == every[sc.name] for sc in only)


def test_an_unknown_kind_is_refused_with_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["--kinds", "thermal_runaway"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "thermal_runaway:" in err
    assert "thermal_runaway_precursor" in err

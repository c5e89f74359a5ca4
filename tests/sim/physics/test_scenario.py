"""Scenario files, label files, device params validation and the evaluation suite."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from chargewatch.errors import ConfigError
from chargewatch.profiles import find_profile
from firmware_sim.devices import create_device
from firmware_sim.faults import KINDS, Label, LabelFileError, LabelWriter, load_scenario, read_labels
from firmware_sim.offline import run, suite
from firmware_sim.physics import CHEMISTRIES

YAML = """\
name: hot-afternoon
start_time: 1752544800
duration_s: 3600
ambient: summer
devices:
  - {id: pile-1, model: cw-pile-10, params: {temp_cut_c: 0}}
  - {id: lift-1, model: cw-blocker}
faults:
  - {device: pile-1, port: 2, kind: connector_overheat, onset_s: 60, params: {doubling_s: 200}}
  - {device: lift-1, kind: blocker_offline, onset_s: 600, params: {duration_s: 120}}
"""


def test_yaml_scenario_loads_and_runs_with_labels(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(YAML)
    scenario = load_scenario(path)
    assert scenario.ambient == "summer"
    with LabelWriter(tmp_path / "labels.jsonl") as writer:
        samples = sum(1 for _ in run(scenario, 1, label_sink=writer.write))
    assert samples == 3600 * 2 - 120
    labels = read_labels(tmp_path / "labels.jsonl")
    assert [(x.device, x.kind, x.event) for x in labels] == [
        ("pile-1", "connector_overheat", "onset"),
        ("lift-1", "blocker_offline", "onset"),
        ("lift-1", "blocker_offline", "end"),
        ("pile-1", "connector_overheat", "critical"),
    ]
    first = json.loads((tmp_path / "labels.jsonl").read_text().splitlines()[0])
    assert first == {
        "device": "pile-1",
        "port": 2,
        "kind": "connector_overheat",
        "category": "thermal",
        "hazard": True,
        "event": "onset",
        "t": 1752544860.0,
    }


def test_json_scenario_loads(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    data = {"start_time": 0, "duration_s": 10, "devices": [{"id": "x", "model": "cw-blocker"}]}
    path.write_text(json.dumps(data))
    assert load_scenario(path).devices[0].model == "cw-blocker"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (("ambient: summer", "ambient: summer\ncolour: red"), "colour"),
        (("ambient: summer", "ambient: tropical"), "ambient"),
        (("port: 2, kind", "port: 12, kind"), r"faults\[0\]"),
        (("onset_s: 600", "onset_s: 7200"), r"faults\[1\].onset_s"),
        (("{device: pile-1, port", "{device: pile-9, port"), r"faults\[0\].device"),
        (("doubling_s: 200", "doubling: 200"), "doubling"),
        (("id: lift-1", "id: pile-1"), r"devices\[1\].id"),
        (("model: cw-blocker", "model: nope"), r"devices\[1\].model"),
    ],
)
def test_bad_scenarios_name_the_key(tmp_path: Path, change: tuple[str, str], match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(YAML.replace(*change))
    with pytest.raises(ConfigError, match=match) as info:
        load_scenario(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"plug_rate": 1.0}, "plug_rate"),
        ({"chemistries": ["nimh"]}, "chemistries"),
        ({"charger_min_w": 900.0}, "charger_min_w"),
        ({"initial_occupancy": 2.0}, "initial_occupancy"),
    ],
)
def test_bad_params_raise_config_error_naming_the_key(params: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        create_device("p9", find_profile("cw-pile-10"), params, 0, 0.0)
    assert "p9" in str(info.value)


def test_blocker_params_are_validated_too() -> None:
    with pytest.raises(ConfigError, match="detect_delay_s"):
        create_device("b9", find_profile("cw-blocker"), {"detect_delay_s": [3.0, 1.0]}, 0, 0.0)


def test_label_writer_refuses_writes_when_closed(tmp_path: Path) -> None:
    writer = LabelWriter(tmp_path / "l.jsonl")
    label = Label(
        device="d", port=None, kind="short", category="electrical", hazard=True, event="onset", t=1.0
    )
    with pytest.raises(LabelFileError, match="not open"):
        writer.write([label])


def test_suite_covers_every_kind_several_times_every_chemistry_and_hot_days() -> None:
    scenarios = suite(7)
    assert scenarios == suite(7)
    kinds: dict[str, int] = {}
    for s in scenarios:
        for f in s.faults:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
    assert set(kinds) == set(KINDS)
    assert min(kinds.values()) >= 3
    normal = [s for s in scenarios if not s.faults]
    assert sum(s.ambient == "summer" for s in normal) >= 2
    chemistries = {c for s in normal for d in s.devices for c in d.params.get("chemistries", [])}
    assert chemistries == set(CHEMISTRIES)
    models = {d.model for s in scenarios for d in s.devices}
    assert models == {"cw-pile-10", "vx-pile-12", "cw-blocker"}
    short = msgspec.structs.replace(scenarios[-1], duration_s=600.0)
    assert sum(1 for _ in run(short, 7)) > 0

"""Site files: shipped examples load; every mistake names the file, the key and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargewatch.errors import ConfigError
from firmware_sim.runner import device_seed
from firmware_sim.site import load_site
from tests.sim.serve.fakes import write_site

SITES = Path(__file__).resolve().parents[3] / "configs" / "sites"


@pytest.mark.parametrize("path", sorted(SITES.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_sites_load(path: Path) -> None:
    site = load_site(path)
    assert site.buses
    assert {p.kind for p in site.profiles.values()} == {"pile", "blocker"}


def test_example_has_both_vendors_on_tcp_and_a_blocker() -> None:
    site = load_site(SITES / "example.yaml")
    assert {d.model for b in site.buses for d in b.devices} == {"cw-pile-10", "vx-pile-12", "cw-blocker"}
    assert {b.spec.transport for b in site.buses} == {"tcp"}


def test_shared_endpoints_form_one_bus() -> None:
    site = load_site(SITES / "serial.yaml")
    assert [(b.spec.label, len(b.devices)) for b in site.buses] == [
        ("rtu:/tmp/cw-ttyA", 3),
        ("rtu_over_tcp:127.0.0.1:15031", 2),
    ]


@pytest.mark.parametrize(
    ("devices", "key", "words"),
    [
        ("  - {id: a, model: cw-pile-10, colour: red}\n", "colour", "remove"),
        ("  - {id: a, model: cw-pile-9}\n", "devices[0] (a).model", "chargewatch/devices"),
        (
            "  - {id: a, model: cw-pile-10}\n  - {id: a, model: cw-blocker}\n",
            "devices[1] (a).id",
            "duplicate",
        ),
        ("  - {id: 'a b', model: cw-pile-10}\n", "devices[0] (a b).id", "not a valid id"),
        ("  - {id: a, model: cw-pile-10, transport: rtu}\n", "devices[0] (a).serial", "serial:"),
        ("  - {id: a, model: cw-pile-10, transport: rtu, serial: /x, port: 5}\n", ".port", "remove port"),
        ("  - {id: a, model: cw-pile-10, serial: /x}\n", ".serial", "remove serial"),
        ("  - {id: a, model: cw-pile-10, baudrate: 9600}\n", ".baudrate", "remove baudrate"),
        ("  - {id: a, model: cw-pile-10, unit: 0}\n", "unit", ">= 1"),
        (
            "  - {id: a, model: cw-pile-10, port: 1502}\n  - {id: b, model: cw-blocker, port: 1502}\n",
            "devices (b).unit",
            "own unit id",
        ),
        (
            "  - {id: a, model: cw-pile-10, port: 1502}\n"
            "  - {id: b, model: cw-blocker, port: 1502, transport: rtu_over_tcp, unit: 2}\n",
            "devices (b)",
            "same transport",
        ),
    ],
)
def test_bad_sites_name_file_key_and_fix(tmp_path: Path, devices: str, key: str, words: str) -> None:
    path = write_site(tmp_path / "bad.yaml", devices)
    with pytest.raises(ConfigError) as info:
        load_site(path)
    msg = str(info.value)
    assert str(path) in msg
    assert key in msg
    assert "Fix:" in msg
    assert words in msg


def test_start_time_needs_a_zone(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("site: s\nstart_time: 2025-07-01T08:00:00\ndevices: [{id: a, model: cw-blocker}]\n")
    with pytest.raises(ConfigError, match=r"start_time"):
        load_site(path)


def test_device_seeds_are_stable_and_distinct() -> None:
    assert device_seed(1, "a") == device_seed(1, "a")
    assert len({device_seed(1, "a"), device_seed(1, "b"), device_seed(2, "a")}) == 3

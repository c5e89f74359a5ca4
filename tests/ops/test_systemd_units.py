"""The systemd units in packaging/systemd pass ``systemd-analyze verify`` with no warning at all,
carry the restart policy, directories and sandboxing a station gateway box needs, and score as
well exposed as we claim in ``systemd-analyze security --offline``.

``verify`` checks that each Exec binary exists, so the units are installed into a temp folder
with ``/opt/chargewatch/bin/chargewatch`` replaced by this environment's ``chargewatch``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.support import REPO
from tests.support.servers import require

UNITS = sorted((REPO / "packaging" / "systemd").glob("*.service"))
INSTALLED = "/opt/chargewatch/bin/chargewatch"
SANDBOX = {
    "Restart": ["on-failure"],
    "User": ["chargewatch"],
    "StateDirectory": ["chargewatch"],
    "ConfigurationDirectory": ["chargewatch"],
    "WorkingDirectory": ["/var/lib/chargewatch"],
    "ProtectSystem": ["strict"],
    "ProtectHome": ["yes"],
    "PrivateTmp": ["yes"],
    "NoNewPrivileges": ["yes"],
    "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"],
    "CapabilityBoundingSet": [""],
    "KillSignal": ["SIGTERM"],
}


def _directives(unit: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def _install(units: list[Path], into: Path) -> list[Path]:
    exe = Path(sys.executable).with_name("chargewatch")
    assert exe.exists(), f"{exe}: the venv's console script (pip install -e .)"
    into.mkdir(exist_ok=True)
    out = []
    for unit in units:
        target = into / unit.name
        target.write_text(unit.read_text().replace(INSTALLED, str(exe)))
        out.append(target)
    return out


def _verify(units: list[Path]) -> subprocess.CompletedProcess[str]:
    tool = require("systemd-analyze", "systemd")
    return subprocess.run(
        [tool, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_units_verify_without_any_warning(tmp_path: Path) -> None:
    assert [u.name for u in UNITS] == [
        "chargewatch-agent.service",
        "chargewatch-gateway.service",
        "chargewatch-sim.service",
    ]
    run = _verify(_install(UNITS, tmp_path / "units"))
    assert (run.returncode, run.stdout + run.stderr) == (0, "")


def test_verify_would_catch_a_mistake(tmp_path: Path) -> None:
    (broken,) = _install(UNITS[:1], tmp_path / "units")
    broken.write_text(broken.read_text().replace("ProtectHome=yes", "ProtectHome=yes\nProtectHom=yes"))
    run = _verify([broken])
    assert "Unknown key 'ProtectHom'" in run.stdout + run.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.stem)
def test_units_restart_sandbox_and_check_before_start(unit: Path) -> None:
    d = _directives(unit)
    for key, want in SANDBOX.items():
        assert d.get(key) == want, f"{unit.name}: {key}={d.get(key)}, want {want}"
    (start,) = d["ExecStart"]
    (pre,) = d["ExecStartPre"]
    assert start.startswith(f"{INSTALLED} ")
    assert pre.startswith(start)
    assert pre.endswith(" --check-config" if "agent" in unit.name else " --check")
    assert "/etc/chargewatch/" in start
    if "agent" in unit.name:
        assert d["SupplementaryGroups"] == ["dialout"]
        assert d["DevicePolicy"] == ["closed"]
        assert "char-ttyUSB rw" in d["DeviceAllow"]
    else:
        assert d["PrivateDevices"] == ["yes"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.stem)
def test_units_score_well_in_systemd_analyze_security(unit: Path, tmp_path: Path) -> None:
    (installed,) = _install([unit], tmp_path / "units")
    tool = require("systemd-analyze", "systemd")
    run = subprocess.run(
        [tool, "security", "--offline=yes", "--no-pager", str(installed)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", run.stdout + run.stderr)
    assert match is not None, run
    print(f"{unit.name}: exposure {match.group(1)}")
    assert float(match.group(1)) <= 2.0


def test_sysusers_entry_creates_the_service_user(tmp_path: Path) -> None:
    tool = require("systemd-sysusers", "systemd")
    (tmp_path / "etc").mkdir()
    conf = REPO / "packaging" / "sysusers.d" / "chargewatch.conf"
    run = subprocess.run(
        [tool, f"--root={tmp_path}", str(conf)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    (user,) = [line for line in (tmp_path / "etc" / "passwd").read_text().splitlines() if line]
    name, _, _, _, _, home, shell = user.split(":")
    assert (name, home, shell) == ("chargewatch", "/var/lib/chargewatch", "/usr/sbin/nologin")

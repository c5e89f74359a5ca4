"""A non-editable install works on its own: build the wheel, install it into a fresh virtualenv
outside the checkout and run sim → agent → gateway from that install against a real Mosquitto.

The wheel goes in with ``pip install --no-deps`` into a venv made with ``--without-pip``; its
third-party dependencies are borrowed from the test's own environment through a ``.pth`` line
(appended after the venv's site-packages, and ``.pth`` files inside a borrowed folder are not
run, so the checkout's editable-install hook stays inactive). That keeps the test to seconds
instead of a download of numpy and the other dependencies, while everything ChargeWatch — code and
package data such as the device profiles — comes from the wheel. The test checks that.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.ops.support import REPO, alive, eventually, sqlite_points, write_yaml
from tests.support.servers import Mosquitto, Server, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
_NOT_SOURCE = (".venv", ".git", "build", "dist", "*.egg-info", "var", "__pycache__", ".*_cache")


def _install_wheel(tmp: Path) -> Path:
    """Build the wheel and install it into a fresh venv under ``tmp``; the venv's bin folder."""
    wheels, src = tmp / "wheels", tmp / "src"
    # built from a copy: an in-tree build would leave build/ behind, whose stale files a later
    # build would package
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(wheels)],
        check=True, capture_output=True, timeout=120, cwd=tmp,
    )  # fmt: skip
    (wheel,) = wheels.glob("chargewatch-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True, capture_output=True, timeout=120, cwd=tmp,
    )  # fmt: skip
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, cwd=tmp,
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "_chargewatch_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # the wheel's Requires-Dist are all met by what the venv sees (its metadata names them right)
    check = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "check"],
        capture_output=True, text=True, timeout=120, cwd=tmp, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    return venv / "bin"


def test_the_installed_wheel_runs_the_chain(tmp_path: Path, mosquitto: Mosquitto) -> None:
    run = tmp_path / "run"
    run.mkdir()
    bin_dir = _install_wheel(tmp_path)
    where = subprocess.run(
        [str(bin_dir / "python"), "-c",
         "import sys, chargewatch, gateway, edge_agent, firmware_sim\n"
         "from chargewatch.profiles import PROFILE_DIR\n"
         "print(chargewatch.__file__, gateway.__file__, PROFILE_DIR,"
         " sorted(p.name for p in PROFILE_DIR.iterdir()))"],
        check=True, capture_output=True, text=True, cwd=run,
    ).stdout  # fmt: skip
    assert str(REPO) not in where, where
    assert where.count(str(tmp_path / "venv")) == 3, where
    assert "'cw-blocker.yaml', 'cw-pile-10.yaml', 'vx-pile-12.yaml'" in where
    static = subprocess.run(
        [str(bin_dir / "python"), "-c",
         "from gateway.api.server import STATIC\n"
         "print(sorted(str(p.relative_to(STATIC)) for p in STATIC.rglob('*') if p.is_file()))"],
        check=True, capture_output=True, text=True, cwd=run,
    ).stdout  # fmt: skip
    for name in ("index.html", "app.js", "i18n.js", "vendor/uPlot.iife.min.js", "vendor/uPlot.LICENSE"):
        assert f"'{name}'" in static, static  # the control room ships in the wheel
    version = subprocess.run(
        [str(bin_dir / "chargewatch"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("chargewatch 0."), version

    pile_port, blocker_port, http_port = free_port(), free_port(), free_port()
    site = run / "site.yaml"
    site.write_text(
        "site: wheel\nstart_time: 2025-07-15T18:00:00+08:00\nseed: 1\ndevices:\n"
        f"  - {{id: p1, model: cw-pile-10, transport: tcp, port: {pile_port}, unit: 1}}\n"
        f"  - {{id: k1, model: cw-blocker, transport: tcp, port: {blocker_port}, unit: 1}}\n"
    )
    agent = write_yaml(
        {
            "agent_id": "wheel-agent",
            "buses": [
                {"name": "p", "transport": "tcp", "port": pile_port,
                 "devices": [{"id": "p1", "unit": 1, "model": "cw-pile-10", "poll_s": 1.0}]},
                {"name": "k", "transport": "tcp", "port": blocker_port,
                 "devices": [{"id": "k1", "unit": 1, "model": "cw-blocker", "poll_s": 1.0}]},
            ],
            "outbox": {"path": "outbox.sqlite"},
            "mqtt": {"url": mosquitto.url, "client_id": "wheel-agent"},
        },
        run / "agent.yaml",
    )  # fmt: skip
    store = run / "store.sqlite"
    gateway = write_yaml(
        {
            "mqtt": {"url": mosquitto.url, "client_id": "wheel-gw"},
            "store": {"kind": "sqlite", "path": str(store)},
            "spool": {"path": "spool.sqlite", "state_path": "state.sqlite", "analytics_path": "a.ckpt"},
            "http": {"port": http_port},
        },
        run / "gateway.yaml",
    )
    exe = str(bin_dir / "chargewatch")
    procs = [
        Server([exe, "gateway", "--config", str(gateway)], run, "gateway"),
        Server([exe, "sim", "--site", str(site), "--speed", "5"], run, "sim"),
        Server([exe, "agent", "--config", str(agent)], run, "agent"),
    ]
    try:
        for p in procs:
            p.start()

        def logs() -> str:
            return "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in procs)

        eventually(
            lambda: (
                alive(procs) and sqlite_points(store, "pile") >= 3 and sqlite_points(store, "blocker") >= 3
            ),
            within=40,
            what="pile and blocker points in the gateway's store",
            logs=logs,
        )
    finally:
        for p in reversed(procs):
            p.stop()
    assert [p.proc.returncode for p in procs if p.proc is not None] == [0, 0, 0], logs()

"""``chargewatch sim`` as a subprocess: endpoint JSON lines, live Modbus, labels, SIGTERM → exit 0."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient

from firmware_sim.faults import read_labels
from tests.sim.serve.fakes import write_site

ROOT = Path(__file__).resolve().parents[3]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chargewatch_cli", "sim", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_sim_prints_endpoints_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    site = write_site(
        tmp_path / "site.yaml",
        "  - {id: p1, model: cw-pile-10, port: 0}\n"
        "  - {id: p2, model: vx-pile-12, transport: rtu_over_tcp, port: 0, unit: 5}\n"
        "  - {id: lift, model: cw-blocker, port: 0}\n",
    )
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "start_time: 0\nduration_s: 3600\n"
        "devices: [{id: lift, model: cw-blocker}]\n"
        "faults: [{device: lift, kind: blocker_camera_fault, onset_s: 2}]\n"
    )
    labels = tmp_path / "labels.jsonl"
    proc = _start("--site", str(site), "--speed", "20", "--scenario", str(scenario), "--labels", str(labels))
    try:
        assert proc.stdout is not None
        lines = [json.loads(proc.stdout.readline()) for _ in range(3)]
        assert [ln["device"] for ln in lines] == ["p1", "p2", "lift"]
        assert lines[1] == {
            "device": "p2",
            "model": "vx-pile-12",
            "transport": "rtu_over_tcp",
            "host": "127.0.0.1",
            "port": lines[1]["port"],
            "unit": 5,
        }
        p1 = lines[0]
        client = AsyncModbusTcpClient(p1["host"], port=p1["port"], timeout=2)
        assert await client.connect()
        first = (await client.read_input_registers(6, count=1, device_id=p1["unit"])).registers[0]
        deadline = time.monotonic() + 10
        while not labels.exists() or not labels.read_text():
            assert time.monotonic() < deadline, "no label written"
            await asyncio.sleep(0.05)
        later = (await client.read_input_registers(6, count=1, device_id=p1["unit"])).registers[0]
        client.close()
        assert later > first  # the heartbeat register counts simulated seconds, at 20×
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "site_stopped" in err
    first_label = read_labels(labels)[0]
    assert (first_label.device, first_label.kind, first_label.event) == (
        "lift",
        "blocker_camera_fault",
        "onset",
    )


def test_sim_rejects_a_bad_site_naming_file_and_key(tmp_path: Path) -> None:
    site = write_site(tmp_path / "bad.yaml", "  - {id: p1, model: cw-pile-10, port: 0, colour: red}\n")
    proc = _start("--site", str(site))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert str(site) in err
    assert "colour" in err

"""The zero-setup demo end to end: simulator → agent → embedded broker → gateway → SQLite,
with the injected faults raising the right alerts and nothing lost on the way."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

OVERHEAT_KINDS = {"socket_overtemp", "temp_rising_fast", "port_hotter_than_neighbours", "thermal_residual"}


def _wait_online(base: str, device: str) -> None:
    """Until the gateway has heard ``device``: its agent has subscribed to the command topic
    (the agent subscribes before it sends its first reading), so a command now is delivered."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/devices", timeout=10) as resp:
            if any(d["device"] == device and d["online"] for d in json.loads(resp.read())):
                return
        time.sleep(0.2)
    raise AssertionError(f"{device} never came online")


def _command(base: str) -> dict[str, str]:
    """Switch pile-b1 port 0 off through the API (signed with the demo's throwaway key)."""
    body = {"device": "pile-b1", "point": "relay_on", "port": 0, "value": 0, "operator": "demo"}
    req = urllib.request.Request(
        f"{base}/api/commands",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-ChargeWatch-CSRF": "1"},  # no token: loopback
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 202
        sent: dict[str, str] = json.loads(resp.read())
    return sent


def _audited(base: str, command_id: str) -> set[str]:
    """The results the audit trail holds for ``command_id`` once the agent's reply is in."""
    deadline = time.monotonic() + 30
    results: set[str] = set()
    while time.monotonic() < deadline and len(results) < 2:
        with urllib.request.urlopen(f"{base}/api/commands?device=pile-b1", timeout=10) as resp:
            results = {r["result"] for r in json.loads(resp.read()) if r["id"] == command_id}
        time.sleep(0.2)
    return results


def test_demo_runs_the_whole_chain(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chargewatch_cli",
            "demo",
            "--seconds",
            "45",
            "--speed",
            "30",
            "--http-port",
            "0",
            "--workdir",
            str(tmp_path / "demo"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert match, f"no dashboard URL in {first!r}"
        base = f"http://127.0.0.1:{match.group(1)}"
        with urllib.request.urlopen(f"{base}/", timeout=10) as resp:
            assert resp.status == 200
            assert b"<html" in resp.read().lower()
        _wait_online(base, "pile-b1")
        sent = _command(base)
        assert _audited(base, sent["id"]) == {"sent", "ok"}
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["devices"] == ["lift-1", "pile-a1", "pile-a2", "pile-b1"]
    assert summary["notifications"] >= 1  # the overheating reached the demo's webhook receiver
    assert "ChargeWatch demo: 通知 / notification → demo：告警" in out
    assert summary["health"]["spool_depth"] == 0
    assert summary["health"]["dead_letters"] == 0
    alerts = {tuple(a.split("/")) for a in summary["alerts"]}
    assert {k for d, p, k in alerts if (d, p) == ("pile-a1", "2")} & OVERHEAT_KINDS
    garbage_port = {k for d, p, k in alerts if (d, p) == ("pile-a2", "5")}
    assert "sensor_fault" in garbage_port
    assert not garbage_port & OVERHEAT_KINDS
    # charging sessions end within the run (the demo site's riders bought 10/15 minutes) and are
    # stored with their fee
    assert summary["sessions"] >= 3
    assert "timeout" in summary["session_end_reasons"]
    assert summary["fees_total_cny"] > 0
    # the day's supervision report (the test setup has matplotlib and the CJK font)
    report = Path(summary["report"])
    assert report.name == "index.html", summary["report"]
    assert "充电设施安全监管日报" in report.read_text(encoding="utf-8")
    assert "chargewatch evidence --config" in out

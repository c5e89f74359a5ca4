"""The shipped example configs form a working chain with no edits: ``chargewatch sim --site
configs/sites/example.yaml``, ``chargewatch agent --config configs/agent.example.yaml`` and
``chargewatch gateway --config configs/gateway.example.yaml`` against a real Mosquitto and a real
InfluxDB. Only what points at the test's servers is rewritten, as data: the broker URL in both
configs, the store URL, and the gateway's HTTP port (8080 may be taken on a shared machine).
Relative paths (outbox, spool, state) stay as shipped and land in the test's working folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.ingest.support import influxql
from tests.ops.support import CHARGEWATCH, REPO, alive, eventually, read_yaml, write_yaml
from tests.support.servers import InfluxDB1, Mosquitto, Server, free_port

pytestmark = pytest.mark.integration

CONFIGS = REPO / "configs"
DEVICES = {"pile": ["pile-a1", "pile-a2", "pile-b1"], "blocker": ["lift-1"]}


def _stored(url: str) -> dict[str, set[str]]:
    """Devices with at least one stored point, per measurement."""
    out: dict[str, set[str]] = {}
    for measurement in DEVICES:
        series = influxql(url, f"SELECT count(seq) FROM {measurement} GROUP BY device", db="chargewatch")
        out[measurement] = {s["tags"]["device"] for s in series if s["values"][0][1] > 0}
    return out


def test_the_example_configs_work_together(tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1) -> None:
    agent = read_yaml(CONFIGS / "agent.example.yaml")
    agent["mqtt"]["url"] = mosquitto.url
    gateway = read_yaml(CONFIGS / "gateway.example.yaml")
    gateway["mqtt"]["url"] = mosquitto.url
    gateway["store"]["url"] = influxdb.url
    gateway["http"]["port"] = free_port()
    run = tmp_path / "run"
    run.mkdir()
    agent_file = write_yaml(agent, run / "agent.yaml")
    gateway_file = write_yaml(gateway, run / "gateway.yaml")
    procs = [
        Server([*CHARGEWATCH, "gateway", "--config", str(gateway_file)], run, "gateway"),
        Server([*CHARGEWATCH, "sim", "--site", str(CONFIGS / "sites" / "example.yaml")], run, "sim"),
        Server([*CHARGEWATCH, "agent", "--config", str(agent_file)], run, "agent"),
    ]

    def logs() -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in procs)

    try:
        for p in procs:
            p.start()
        eventually(
            lambda: alive(procs) and _stored(influxdb.url) == {k: set(v) for k, v in DEVICES.items()},
            within=40,
            what="points of every example device in InfluxDB",
            logs=logs,
        )
    finally:
        for p in reversed(procs):
            p.stop()
    assert [p.proc.returncode for p in procs if p.proc is not None] == [0, 0, 0], logs()
    assert (run / "var" / "agent-outbox.sqlite3").exists()
    assert (run / "var" / "gateway" / "state.sqlite").exists()

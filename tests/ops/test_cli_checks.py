"""``--version``, ``--check`` / ``--check-config`` and one-line start-up errors, through real
``chargewatch`` processes against real Mosquitto (plain and TLS with passwords) and InfluxDB."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ops.support import CHARGEWATCH, cli, write_yaml
from tests.support.servers import InfluxDB1, Mosquitto, MosquittoTls, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port held by a listening socket for the test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def _one_line(run: subprocess.CompletedProcess[str], code: int, needle: str) -> str:
    assert run.returncode == code, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{run.stderr}"
    assert needle in lines[0], lines[0]
    assert "Traceback" not in run.stderr
    return lines[0]


def _gateway(tmp: Path, mqtt: dict[str, Any], store_url: str, http_port: int = 0) -> Path:
    return write_yaml(
        {
            "mqtt": {"client_id": "gw-check", **mqtt},
            "store": {"kind": "influx_v1", "url": store_url, "db": "cw"},
            "spool": {
                "path": str(tmp / "gw" / "spool.sqlite"),
                "state_path": str(tmp / "gw" / "state.sqlite"),
                "analytics_path": str(tmp / "gw" / "analytics.ckpt"),
            },
            "http": {"port": http_port},
        },
        tmp / "gateway.yaml",
    )


def _site(tmp: Path, port: int) -> Path:
    path = tmp / "site.yaml"
    path.write_text(
        "site: s\nstart_time: 2025-07-15T18:00:00+08:00\ndevices:\n"
        f"  - {{id: p1, model: cw-pile-10, transport: tcp, host: 127.0.0.1, port: {port}, unit: 1}}\n"
    )
    return path


def _agent(tmp: Path, modbus_port: int, mqtt: dict[str, Any] | None, model: str = "cw-pile-10") -> Path:
    cfg: dict[str, Any] = {
        "agent_id": "a-check",
        "buses": [
            {"name": "b1", "transport": "tcp", "port": modbus_port,
             "devices": [{"id": "p1", "unit": 1, "model": model}]},
        ],
        "outbox": {"path": str(tmp / "agent" / "outbox.sqlite")},
    }  # fmt: skip
    if mqtt is not None:
        cfg["mqtt"] = {"client_id": "a-check", **mqtt}
    return write_yaml(cfg, tmp / "agent.yaml")


def test_version_is_the_package_version() -> None:
    run = cli("--version")
    assert run.returncode == 0
    assert run.stdout.strip() == f"chargewatch {_pyproject_version()}"


def _pyproject_version() -> str:
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    return next(line.split('"')[1] for line in text.splitlines() if line.startswith("version = "))


def test_gateway_check_passes_against_real_servers(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    config = _gateway(tmp_path, {"url": mosquitto.url}, influxdb.url, http_port=free_port())
    run = cli("gateway", "--config", str(config), "--check")
    assert run.returncode == 0, run.stderr
    for part in ("mqtt broker mqtt://127.0.0.1", "accepted client 'gw-check-check'", "answered 204", "free"):
        assert part in run.stdout


def test_gateway_check_names_what_is_unreachable(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB1
) -> None:
    nothing = free_port()
    config = _gateway(tmp_path, {"url": mosquitto.url}, f"http://127.0.0.1:{nothing}")
    _one_line(cli("gateway", "--config", str(config), "--check"), 1, "store (influx_v1) http://127.0.0.1:")
    config = _gateway(tmp_path, {"url": f"mqtt://127.0.0.1:{nothing}"}, influxdb.url)
    line = _one_line(cli("gateway", "--config", str(config), "--check"), 1, "mqtt broker: mqtt://127.0.0.1")
    assert "cannot connect" in line
    assert cli("gateway", "--config", str(config), "--check-config").returncode == 0


def test_gateway_check_uses_the_configured_credentials(
    tmp_path: Path, mosquitto_tls: MosquittoTls, influxdb: InfluxDB1
) -> None:
    pw = tmp_path / "mqtt-password"
    pw.write_text(mosquitto_tls.users["gateway"])
    tls = {"url": mosquitto_tls.url, "ca_file": str(mosquitto_tls.pki.ca), "username": "gateway"}
    config = _gateway(tmp_path, {**tls, "password_file": str(pw)}, influxdb.url)
    run = cli("gateway", "--config", str(config), "--check")
    assert run.returncode == 0, run.stderr
    assert "mqtts://127.0.0.1" in run.stdout
    pw.write_text("wrong")
    _one_line(cli("gateway", "--config", str(config), "--check"), 1, "broker refused client 'gw-check-check'")
    config = _gateway(tmp_path, {**tls, "password_env": "CW_TEST_UNSET_PASSWORD"}, influxdb.url)
    _one_line(cli("gateway", "--config", str(config), "--check-config"), 2, "CW_TEST_UNSET_PASSWORD")


def test_gateway_start_on_a_busy_http_port_is_one_line(
    tmp_path: Path, mosquitto: Mosquitto, busy_port: int
) -> None:
    config = _gateway(tmp_path, {"url": mosquitto.url}, "http://127.0.0.1:1", http_port=busy_port)
    line = _one_line(cli("gateway", "--config", str(config)), 1, f"http.port 127.0.0.1:{busy_port}")
    assert "already in use" in line


def test_sim_check_and_start_on_a_busy_modbus_port_are_one_line(tmp_path: Path, busy_port: int) -> None:
    site = _site(tmp_path, busy_port)
    for args in (["--check"], []):
        line = _one_line(cli("sim", "--site", str(site), *args), 1, f"127.0.0.1:{busy_port}")
        assert "Modbus port of p1" in line
        assert "already in use" in line
    free = _site(tmp_path, free_port())
    run = cli("sim", "--site", str(free), "--check")
    assert run.returncode == 0
    assert "free" in run.stdout


def test_agent_check_reaches_modbus_and_broker(tmp_path: Path, mosquitto: Mosquitto) -> None:
    modbus = free_port()
    sim = subprocess.Popen(
        [*CHARGEWATCH, "sim", "--site", str(_site(tmp_path, modbus))],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert sim.stdout is not None
        assert b'"device": "p1"' in sim.stdout.readline()  # serving
        run = cli("agent", "--config", str(_agent(tmp_path, modbus, {"url": mosquitto.url})), "--check")
        assert run.returncode == 0, run.stderr
        assert f"Modbus endpoint 127.0.0.1:{modbus} reachable" in run.stdout
        assert "accepted client 'a-check-check'" in run.stdout
        down = {"url": f"mqtt://127.0.0.1:{free_port()}"}
        _one_line(cli("agent", "--config", str(_agent(tmp_path, modbus, down)), "--check"), 1, "mqtt broker")
    finally:
        sim.terminate()
        assert sim.wait(15) == 0
    gone = _agent(tmp_path, modbus, None)
    line = _one_line(cli("agent", "--config", str(gone), "--check"), 1, "buses[0] (b1) Modbus endpoint")
    assert "not reachable" in line
    assert cli("agent", "--config", str(gone), "--check-config").returncode == 0


def test_agent_refuses_an_unknown_model_at_start(tmp_path: Path) -> None:
    config = _agent(tmp_path, free_port(), None, model="cw-pile-99")
    for args in (["--check-config"], []):
        _one_line(cli("agent", "--config", str(config), *args), 2, "unknown profile model 'cw-pile-99'")


def test_serial_line_missing_is_named(tmp_path: Path) -> None:
    config = write_yaml(
        {
            "agent_id": "a-serial",
            "buses": [{"name": "line-1", "transport": "rtu", "serial_port": str(tmp_path / "ttyUSB9"),
                       "devices": [{"id": "p1", "unit": 1, "model": "cw-pile-10", "poll_s": 2.0}]}],
            "outbox": {"path": str(tmp_path / "outbox.sqlite")},
        },
        tmp_path / "agent.yaml",
    )  # fmt: skip
    line = _one_line(cli("agent", "--config", str(config), "--check"), 1, "buses[0] (line-1).serial_port")
    assert "does not exist" in line

"""Shared fixtures: real servers on loopback, each owned by the test that asked for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import InfluxDB1, Mosquitto, PtyPair, VictoriaMetrics, running


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto broker with the default (non-persistent) config on a free port."""
    d = tmp_path / "mosquitto"
    d.mkdir()
    with running(Mosquitto(d)) as server:
        assert isinstance(server, Mosquitto)
        yield server


@pytest.fixture
def influxdb(tmp_path: Path) -> Iterator[InfluxDB1]:
    """An InfluxDB 1.x server with its data in a temp dir."""
    d = tmp_path / "influxdb"
    d.mkdir()
    with running(InfluxDB1(d)) as server:
        assert isinstance(server, InfluxDB1)
        yield server


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics single node with its data in a temp dir."""
    d = tmp_path / "vm"
    d.mkdir()
    with running(VictoriaMetrics(d)) as server:
        assert isinstance(server, VictoriaMetrics)
        yield server


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[PtyPair]:
    """Two linked serial ptys (``.a`` and ``.b``) made by socat."""
    d = tmp_path / "pty"
    d.mkdir()
    with running(PtyPair(d)) as server:
        assert isinstance(server, PtyPair)
        yield server

"""Shared fixtures: real servers on loopback, each owned by the test that asked for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support.servers import (
    InfluxDB1,
    Mosquitto,
    MosquittoTls,
    Pki,
    PtyPair,
    Server,
    VictoriaMetrics,
    running,
)

S = TypeVar("S", bound=Server)


def _serve(tmp_path: Path, name: str, make: Callable[[Path], S]) -> Iterator[S]:
    workdir = tmp_path / name
    workdir.mkdir()
    server = make(workdir)
    with running(server):
        yield server


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto broker with the default (non-persistent) config on a free port."""
    yield from _serve(tmp_path, "mosquitto", Mosquitto)


@pytest.fixture
def mosquitto_tls(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoTls]:
    """Mosquitto over TLS with password auth (see MosquittoTls); certs made once per session."""
    pki = Pki.ensure(tmp_path_factory.getbasetemp() / "pki")
    yield from _serve(tmp_path, "mosquitto-tls", lambda workdir: MosquittoTls(workdir, pki))


@pytest.fixture
def influxdb(tmp_path: Path) -> Iterator[InfluxDB1]:
    """An InfluxDB 1.x server with its data in a temp dir."""
    yield from _serve(tmp_path, "influxdb", InfluxDB1)


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics single node with its data in a temp dir."""
    yield from _serve(tmp_path, "vm", VictoriaMetrics)


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[PtyPair]:
    """Two linked serial ptys (``.a`` and ``.b``) made by socat."""
    yield from _serve(tmp_path, "pty", PtyPair)

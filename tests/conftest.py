"""Shared fixtures: real servers on loopback, each owned by the test that asked for it; and
two guards on every test (as pymodbus's ``test/conftest.py``): no asyncio task and no thread
may outlive the test that started it."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from chargewatch import retry
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

#: how long a thread may take to finish after its owner has closed (executor shutdown, joins)
THREAD_GRACE_S = 2.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every coroutine test also gets :func:`no_leaked_tasks` (it must run in the test's loop)."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            names = item.fixturenames
            # after the thread guard: its check then runs once the loop's executor has ended
            names.insert(names.index("no_leaked_threads") + 1, "no_leaked_tasks")


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail the test if it leaves a task running in its event loop (the leak is cancelled);
    then end the loop's default executor (``asyncio.to_thread``), as closing the loop would."""
    before = asyncio.all_tasks()
    yield
    for _ in range(3):  # let tasks that are finishing right now finish
        await asyncio.sleep(0)
    leaked = asyncio.all_tasks() - before - {asyncio.current_task()}
    for task in leaked:
        task.cancel()
    await asyncio.gather(*leaked, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_default_executor()
    assert not leaked, f"tasks leaked by the test: {sorted(t.get_name() for t in leaked)}"


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail the test if a thread it started is still alive ``THREAD_GRACE_S`` after it ended."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE_S
    while (alive := [t for t in threading.enumerate() if t not in before and t.is_alive()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert not alive, f"threads leaked by the test: {sorted(t.name for t in alive)}"


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


@pytest.fixture
def no_retry() -> Iterator[None]:
    """Retrying switched off (:func:`chargewatch.retry.for_tests`): one attempt, no waiting."""
    with retry.for_tests():
        yield

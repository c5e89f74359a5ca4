"""Fixtures of the notification tests: a local HTTP receiver and a real Alertmanager."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.gateway.notify.receiver import Receiver
from tests.support.servers import Alertmanager


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """An aiohttp server on 127.0.0.1 recording every POST."""
    async with Receiver() as r:
        yield r


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Callable[[str], Alertmanager]]:
    """Starts Alertmanager with the YAML given (once per test); stopped by PID at teardown."""
    started: list[Alertmanager] = []

    def start(config: str) -> Alertmanager:
        workdir = tmp_path / f"alertmanager-{len(started)}"
        workdir.mkdir()
        am = Alertmanager(workdir, config)
        am.start()
        started.append(am)
        return am

    yield start
    for am in started:
        am.stop()

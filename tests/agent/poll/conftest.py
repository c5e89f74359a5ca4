"""Fixtures for the agent's Modbus tests: fake devices on a TCP port or a socat pty line."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Literal

import pytest

from chargewatch.profiles import find_profile
from edge_agent.config import BusConfig, DeviceConfig, SerialBus, TcpBus
from tests.agent.poll.fakes import FakeBus, FakeDevice
from tests.support.servers import PtyPair, free_port

Transport = Literal["tcp", "rtu"]
BusMaker = Callable[..., AbstractAsyncContextManager[tuple[BusConfig, list[FakeDevice]]]]


@pytest.fixture(params=["tcp", "rtu"])
def transport(request: pytest.FixtureRequest) -> Transport:
    """Each test runs over Modbus TCP and over RTU on a socat pty pair."""
    value: Transport = request.param
    return value


@pytest.fixture
def make_bus(transport: Transport, request: pytest.FixtureRequest) -> BusMaker:
    """``async with make_bus([(id, unit, model), ...], **bus_fields) as (cfg, fakes)``."""

    @asynccontextmanager
    async def make(
        devices: list[tuple[str, int, str]], poll_s: float = 0.2, **fields: object
    ) -> AsyncIterator[tuple[BusConfig, list[FakeDevice]]]:
        fakes = []
        for _, unit, model in devices:
            fake = FakeDevice(find_profile(model), unit)
            fake.fill_normal(seed=unit)
            fakes.append(fake)
        devs = [DeviceConfig(id=i, unit=u, model=m, poll_s=poll_s) for i, u, m in devices]
        cfg: BusConfig
        if transport == "tcp":
            port = free_port()
            fields.pop("drain_s", None)
            cfg = TcpBus(name="bus1", host="127.0.0.1", port=port, devices=devs, **fields)  # type: ignore[arg-type]
            served = FakeBus(fakes, port=port)
        else:
            pty: PtyPair = request.getfixturevalue("pty_pair")
            fields.setdefault("min_gap_s", 0.002)
            cfg = SerialBus(name="bus1", serial_port=str(pty.a), devices=devs, **fields)  # type: ignore[arg-type]
            served = FakeBus(fakes, tty=str(pty.b))
        async with served:
            yield cfg, fakes

    return make

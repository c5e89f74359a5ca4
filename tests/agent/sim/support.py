"""Helpers for the agent's tests against the real simulator (``firmware_sim.SiteRunner``).

:func:`make_site` builds a site in code with every device on one *shared* bus of the chosen
transport (one TCP port with several unit ids, one RTU-over-TCP port, or one serial pty), so
a silent unit is on the same line as the healthy ones. :func:`agent_buses` turns the runner's
endpoints into the agent's bus config (the agent talks to the pty's other end).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from chargewatch.messages import Event, Telemetry, decode_device_message
from edge_agent.agent import Agent
from edge_agent.config import AgentConfig, BusConfig, DeviceConfig, RtuTcpBus, SerialBus, TcpBus
from edge_agent.outbox import Outbox, OutboxSettings, Row
from firmware_sim import DeviceSpec, Site, SiteRunner, SiteSpec, validate_site
from tests.support.servers import PtyPair, free_port

SimTransport = Literal["tcp", "rtu", "rtu_over_tcp"]
START = datetime(2025, 7, 15, 10, 0, tzinfo=UTC)


def make_site(
    tmp: Path,
    transport: SimTransport,
    devices: Sequence[tuple[str, str]],
    *,
    pty: PtyPair | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    shared: bool = True,
) -> Site:
    """A site of ``devices`` (id, model) with unit ids 1.. on one bus (or one TCP port each)."""
    port = free_port() if transport != "rtu" and shared else 0
    specs = []
    for unit, (dev_id, model) in enumerate(devices, start=1):
        extra = (params or {}).get(dev_id, {})
        if transport == "rtu":
            assert pty is not None
            spec = DeviceSpec(
                id=dev_id, model=model, transport="rtu", serial=str(pty.b), unit=unit, params=extra
            )
        else:
            spec = DeviceSpec(
                id=dev_id,
                model=model,
                transport=transport,
                host="127.0.0.1",
                port=port,
                unit=unit if shared else 1,
                params=extra,
            )
        specs.append(spec)
    site = SiteSpec(site="agent-test", start_time=START, devices=specs, seed=11, ambient="summer")
    return validate_site(site, tmp / "site.yaml")


def agent_buses(
    runner: SiteRunner, *, pty: PtyPair | None = None, poll_s: float = 0.2, **fields: Any
) -> list[BusConfig]:
    """One agent bus per simulator endpoint, in site order."""
    groups: dict[tuple[str, str, int], list[DeviceConfig]] = {}
    for ep in runner.endpoints:
        key = (ep.transport, ep.host, ep.port)
        groups.setdefault(key, []).append(
            DeviceConfig(id=ep.device, unit=ep.unit, model=ep.model, poll_s=poll_s)
        )
    buses: list[BusConfig] = []
    for i, ((transport, host, port), devs) in enumerate(groups.items()):
        name = f"bus{i}"
        if transport == "rtu":
            assert pty is not None
            buses.append(
                SerialBus(name=name, serial_port=str(pty.a), baudrate=115200, devices=devs, **fields)
            )
        elif transport == "rtu_over_tcp":
            buses.append(RtuTcpBus(name=name, host=host, port=port, devices=devs, **fields))
        else:
            tcp_fields = {k: v for k, v in fields.items() if k != "drain_s"}
            buses.append(TcpBus(name=name, host=host, port=port, devices=devs, **tcp_fields))
    return buses


def agent_config(buses: list[BusConfig], outbox: OutboxSettings, **fields: Any) -> AgentConfig:
    return AgentConfig(agent_id="agent-sim", buses=buses, outbox=outbox, **fields)


def outbox_settings(tmp: Path, **kw: Any) -> OutboxSettings:
    opts: dict[str, Any] = {
        "synchronous": "normal",
        "resend_timeout": 2.0,
        "drain_rate": 0.0,
        "reconnect_drain_delay_max": 0.0,
    }
    opts.update(kw)
    return OutboxSettings(path=str(tmp / "outbox.sqlite3"), **opts)


def stored(box: Outbox) -> list[Telemetry | Event]:
    """Every message still in the outbox, oldest first."""
    return [decode_device_message(r.payload) for r in box.pending(limit=1_000_000)]


async def stored_in(agent: Agent) -> list[Telemetry | Event]:
    """Every message still in a running agent's outbox, read on its writer thread."""
    return await agent.store.run(lambda: stored(agent.outbox))


async def drained(agent: Agent, upto: int) -> bool:
    """Whether a running agent's outbox holds no row with id ``<= upto`` any more (all acked)."""
    return not await agent.store.run(lambda: agent.outbox.pending(upto_id=upto, limit=1))


class Committed:
    """Outbox listener: every committed (device, boot, seq) with its commit time (monotonic)."""

    def __init__(self) -> None:
        self.at: dict[tuple[str, int, int], float] = {}
        self.events: set[tuple[str, int, int]] = set()
        self.recording = True

    def committed(self, rows: Sequence[Row]) -> None:
        if not self.recording:
            return
        now = asyncio.get_running_loop().time()
        for r in rows:
            self.at[(r.device, r.boot, r.seq)] = now
            if r.prio == 1:
                self.events.add((r.device, r.boot, r.seq))

    def deleted(self, ids: Sequence[int]) -> None:
        """Acked rows are deleted; nothing to record."""


async def until(cond: Callable[[], bool | Awaitable[bool]], within: float = 10.0, step: float = 0.02) -> None:
    """Poll ``cond`` (state of real servers or processes; may be async) every ``step`` s, for at
    most ``within`` s."""
    async with asyncio.timeout(within):
        for _ in range(int(within / step) + 2):
            met = cond()
            if await met if inspect.isawaitable(met) else met:
                return
            await asyncio.sleep(step)
    raise TimeoutError(f"condition not met within {within} s")

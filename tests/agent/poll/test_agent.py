"""The Agent without any broker on fake devices: smoke cuts every live port; commands write or refuse.

Fakes set a smoke alarm or a dead unit on demand; the temperature interlock is tested against
the real simulator in ``tests/agent/sim/test_sim_interlock.py``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from chargewatch.messages import Command, Event, Telemetry, decode_device_message
from edge_agent.agent import Agent
from edge_agent.config import AgentConfig, BusConfig, CommandConfig, InterlockConfig, validate_config
from edge_agent.outbox import OutboxSettings
from tests.agent.poll.conftest import BusMaker

pytestmark = pytest.mark.integration


def _agent(cfg: BusConfig, tmp_path: Path, **interlocks: object) -> Agent:
    raw = AgentConfig(
        agent_id="a1",
        buses=[cfg],
        interlocks=InterlockConfig(**interlocks),  # type: ignore[arg-type]
        commands=CommandConfig(allow=["relay_on", "alarm_reset"]),
        outbox=OutboxSettings(path=str(tmp_path / "outbox.sqlite3"), synchronous="normal"),
    )
    return Agent(validate_config(raw, tmp_path / "agent.yaml"))


async def _messages(agent: Agent) -> list[Telemetry | Event]:
    rows = await agent.store.run(lambda: agent.outbox.pending(limit=100_000))
    return [decode_device_message(r.payload) for r in rows]


async def _until(cond: Callable[[], bool | Awaitable[bool]]) -> None:
    """Poll ``cond`` (state of real servers, or of the agent's outbox) every 20 ms, for at most 20 s."""
    async with asyncio.timeout(20.0):
        for _ in range(1000):
            met = cond()
            if await met if inspect.isawaitable(met) else met:
                return
            await asyncio.sleep(0.02)


async def _stored_at_least(agent: Agent, n: int) -> bool:
    return len(await _messages(agent)) >= n


async def test_smoke_cuts_every_live_port(make_bus: BusMaker, tmp_path: Path) -> None:
    async with make_bus([("p1", 1, "cw-pile-10")], poll_s=0.1, timeout_s=0.04, retries=1) as (cfg, fakes):
        pile = fakes[0]
        pile.set("relay_on", 0, 2)
        async with _agent(cfg, tmp_path) as agent:
            await _until(lambda: _stored_at_least(agent, 2))
            pile.set("smoke_alarm", 1)
            await _until(lambda: all(pile.get("relay_on", i) == 0.0 for i in range(10)))
            await asyncio.sleep(0.3)
            msgs = await _messages(agent)
    trips = [m for m in msgs if isinstance(m, Event) and m.kind == "interlock"]
    assert sorted(m.port for m in trips if m.port is not None) == [0, 1, 3, 4, 5, 6, 7, 8, 9]
    assert any(isinstance(m, Event) and m.kind == "alarm" for m in msgs)


async def test_commands_allowed_write_and_refusals(make_bus: BusMaker, tmp_path: Path) -> None:
    devices = [("p1", 1, "cw-pile-10"), ("k1", 2, "cw-blocker")]
    async with (
        make_bus(devices, poll_s=0.2, timeout_s=0.05, retries=1) as (cfg, fakes),
        _agent(cfg, tmp_path) as agent,
    ):
        assert agent.commands is not None
        handle = agent.commands.handle
        ok = await handle(Command(id="c1", device="p1", point="relay_on", port=3, value=0))
        assert ok.ok, ok.reason
        assert fakes[0].get("relay_on", 3) == 0.0
        refusals = {
            "c2": (Command(id="c2", device="p1", point="state", port=3, value=1), "not writable"),
            "c3": (Command(id="c3", device="p1", point="temp_cut_c", value=80), "allow-list"),
            "c4": (Command(id="c4", device="k1", point="remote_release", value=1), "allow-list"),
            "c5": (Command(id="c5", device="zz", point="relay_on", port=1, value=0), "not served"),
            "c6": (Command(id="c6", device="p1", point="relay_on", value=0), "per port"),
            "c7": (Command(id="c7", device="p1", point="relay_on", port=12, value=0), "per port"),
            "c8": (Command(id="c8", device="p1", point="relay_on", port=1, value=7), "0 or 1"),
            "c9": (Command(id="c9", device="p1", point="nope", value=0), "no point"),
        }
        for cid, (cmd, reason) in refusals.items():
            reply = await handle(cmd)
            assert not reply.ok, cid
            assert reason in reply.reason, (cid, reply.reason)
        fakes[0].responding = False
        dead = await handle(Command(id="c10", device="p1", point="alarm_reset", value=1))
        assert not dead.ok
        assert "write failed" in dead.reason
    assert fakes[0].writes == [("coil", 3, [0])]
    assert fakes[1].writes == []

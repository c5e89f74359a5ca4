"""The agent against the real simulator on one shared line: TCP with unit ids, RTU over TCP, RTU on a pty.

A pile that stops answering (``pile_unresponsive``) must not delay the others on its line, and
a garbage temperature sensor (``sensor_garbage``) must reach the outbox as None plus a quality
flag, never as a value.
"""

from __future__ import annotations

import itertools
import logging
import math
from pathlib import Path

import pytest

from chargewatch.messages import Event, Telemetry
from edge_agent.agent import Agent
from edge_agent.config import validate_config
from firmware_sim import SiteRunner
from firmware_sim.faults import Fault
from tests.agent.sim.support import (
    START,
    SimTransport,
    agent_buses,
    agent_config,
    make_site,
    outbox_settings,
    stored,
    stored_in,
    until,
)
from tests.support.servers import PtyPair

pytestmark = pytest.mark.integration

DEVICES = [("p1", "cw-pile-10"), ("p2", "cw-pile-10"), ("p3", "vx-pile-12"), ("k1", "cw-blocker")]
POLL_S = 0.25
SPEED = 10.0


@pytest.mark.parametrize("transport", ["tcp", "rtu_over_tcp", "rtu"])
async def test_silent_pile_does_not_delay_the_line_and_garbage_becomes_flags(
    transport: SimTransport, tmp_path: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge_agent")
    pty: PtyPair | None = request.getfixturevalue("pty_pair") if transport == "rtu" else None
    site = make_site(tmp_path, transport, DEVICES, pty=pty)
    t0 = START.timestamp()
    faults = [
        ("p2", Fault(kind="pile_unresponsive", at=t0 + 10, params={"duration_s": 30.0})),
        ("p1", Fault(kind="sensor_garbage", at=t0 + 1, port=3, params={"share": 0.5})),
    ]
    async with SiteRunner(site, speed=SPEED, faults=faults) as runner:
        buses = agent_buses(
            runner,
            pty=pty,
            poll_s=POLL_S,
            timeout_s=0.1,
            retries=1,
            drain_s=0.1,
            backoff_initial_s=0.8,
            backoff_cap_s=1.6,
        )
        cfg = agent_config(buses, outbox_settings(tmp_path))
        async with Agent(validate_config(cfg, tmp_path / "agent.yaml")) as agent:
            await until(lambda: agent.health.polls_ok > 0 and runner.time > t0 + 50, within=15.0)
            await until(lambda: _device_up_stored(agent), within=20.0)
            msgs, depth = await agent.store.run(lambda: (stored(agent.outbox), agent.outbox.depth()))
            health = await agent.refresh_health()
    assert len(buses) == 1, "every device shares one line"
    events = _events(msgs)
    assert [(e.device, e.kind) for e in events if e.kind in ("device_down", "device_up")] == [
        ("p2", "device_down"),
        ("p2", "device_up"),
    ]
    down = next(e.ts for e in events if e.kind == "device_down")
    up = next(e.ts for e in events if e.kind == "device_up")
    assert up - down > 15  # 30 simulated s silent (stamps are the devices' simulated clocks)
    tel = [m for m in msgs if isinstance(m, Telemetry)]
    for dev in ("p1", "p3", "k1"):
        during = [m.ts for m in tel if m.device == dev and down < m.ts < up]
        gaps = [b - a for a, b in itertools.pairwise(during)]
        # a healthy unit keeps its rhythm: at worst one single-attempt probe of the silent
        # unit (0.1 s timeout, plus a 0.1 s drain on RTU lines) lands between two of its polls;
        # the stamps come from the device clocks (whole simulated seconds at SPEED x wall time)
        assert len(during) >= (up - down) / (POLL_S * SPEED) * 0.7, (dev, len(during))
        assert max(gaps) <= (POLL_S + 0.2 + 0.15) * SPEED + 1, (dev, gaps)
    p1 = [m for m in tel if m.device == "p1"]
    flagged = [m for m in p1 if "socket_temp[3]" in m.flags]
    assert flagged, "garbage never reached the agent"
    for m in p1:
        temp = m.ports["socket_temp"][3]
        if "socket_temp[3]" in m.flags:
            assert temp is None
            assert m.flags["socket_temp[3]"] in ("out_of_range", "not_finite")
        else:
            assert temp is not None
            assert -40.0 <= temp <= 150.0
        assert all(v is None or math.isfinite(v) for col in m.ports.values() for v in col)
    assert not any(k for m in tel if m.device != "p1" for k in m.flags if k.startswith("socket_temp"))
    logged = [r.getMessage().split()[0] for r in caplog.records if "device=p2" in r.getMessage()]
    assert logged == ["device_down", "device_up"], "state changes are logged once each, not per probe"
    assert health["polls_failed"] >= 2
    assert 0.0 < health["poll_success_ratio"] < 1.0
    assert health["read_latency_ms"] > 0.0
    assert depth == len(msgs), "the outbox's depth counts exactly the stored rows"
    assert health["outbox_depth"] >= depth, "commits may land between the two reads, never removing rows"
    print(
        f"\n{transport}: p2 silent {up - down:.1f} s; {len(flagged)}/{len(p1)} p1 polls flagged "
        f"socket_temp[3]; health {health}"
    )


def _events(msgs: list[Telemetry | Event]) -> list[Event]:
    return [m for m in msgs if isinstance(m, Event)]


async def _device_up_stored(agent: Agent) -> bool:
    return any(m.kind == "device_up" for m in _events(await stored_in(agent)))

"""An interlock trips the simulator's relay while the broker is down; the event reaches the broker later.

The pile's own over-temperature cut is disabled (``temp_cut_c: 0``), so only the agent can stop
the overheating connector: ground truth is the simulator's port model (relay off, no current).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chargewatch.messages import Event, Telemetry
from edge_agent.acker import Acker
from edge_agent.agent import Agent
from edge_agent.config import InterlockConfig, validate_config
from edge_agent.mqtt import MqttSettings
from firmware_sim import SiteRunner
from firmware_sim.devices.pile import Pile
from firmware_sim.faults import Fault
from tests.agent.sim.support import (
    START,
    agent_buses,
    agent_config,
    make_site,
    outbox_settings,
    stored_in,
    until,
)
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

HOT_PORT = 4


async def test_interlock_cuts_an_overheating_port_with_the_broker_down(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    mosquitto.stop()
    devices = [("p1", "cw-pile-10"), ("p2", "cw-pile-10")]
    site = make_site(tmp_path, "tcp", devices, params={"p1": {"temp_cut_c": 0.0}}, shared=False)
    t0 = START.timestamp()
    overheat = Fault(kind="connector_overheat", at=t0 + 2, port=HOT_PORT, params={"doubling_s": 10.0})
    async with SiteRunner(site, speed=30.0, faults=[("p1", overheat)]) as runner:
        pile = runner.devices["p1"].model
        assert isinstance(pile, Pile)
        cfg = agent_config(
            agent_buses(runner, poll_s=0.1, timeout_s=0.04, retries=1),
            outbox_settings(tmp_path),
            interlocks=InterlockConfig(critical_socket_temp_c=90.0, confirm_samples=3),
            mqtt=MqttSettings(
                url=mosquitto.url, client_id="agent-sim", backoff_initial_s=0.1, backoff_cap_s=0.5
            ),
        )
        async with Agent(validate_config(cfg, tmp_path / "agent.yaml")) as agent:
            assert agent.link is not None
            await until(lambda: not pile.ports[HOT_PORT].relay_on, within=20.0)
            tripped_at = runner.time
            await until(lambda: runner.time > tripped_at + 5, within=20.0)
            port = pile.ports[HOT_PORT]
            assert not port.relay_on
            assert port.current == 0.0
            assert port.fault != "over_temperature", "the pile's own cut was disabled"
            other = runner.devices["p2"].model
            assert isinstance(other, Pile)
            assert all(p.relay_on for p in other.ports)
            assert not agent.link.is_connected
            msgs = await stored_in(agent)
            trips = [m for m in msgs if isinstance(m, Event) and m.kind == "interlock"]
            assert [(e.device, e.port, e.data["rule"], e.data["verified"]) for e in trips] == [
                ("p1", HOT_PORT, "socket_temp", True)
            ]
            hot = [
                m.ports["socket_temp"][HOT_PORT]
                for m in msgs
                if isinstance(m, Telemetry)
                and m.device == "p1"
                and (m.ports["socket_temp"][HOT_PORT] or 0) >= 90
            ]
            assert len(hot) >= 3, "confirmed over three consecutive polls"
            mosquitto.start()
            async with Acker(mosquitto.url, client_id="acker-sim") as acker:
                key = (trips[0].device, trips[0].boot, trips[0].seq)
                await until(lambda: key in acker.seen, within=10.0)
            print(
                f"\ninterlock: port {HOT_PORT} cut at {hot[-1]:.1f} °C with the broker down, event sent later"
            )

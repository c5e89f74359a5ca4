"""An accelerated simulator and a real agent agree on time: no false alerts at ``--speed``.

The real simulator runs at speed 30 on real Modbus TCP; a real agent polls it with its own
(wall) clock, publishes through Mosquitto to the real gateway (analytics pipeline, SQLite store).
Each device serves its RTC in the ``device_clock`` register and the agent stamps with it, so
consecutive samples are ~30 × the poll interval apart, energy metered over the run matches
power × time, and a healthy site raises no ``current_spike``/``overcurrent`` alert. (Stamped with
the agent's wall clock, the meter would run 30 × ahead of the sampled power.)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import msgspec
import pytest

from edge_agent.agent import Agent
from edge_agent.config import validate_config
from edge_agent.mqtt import MqttSettings
from firmware_sim import SiteRunner
from gateway.app import Gateway
from gateway.config import LimitsConfig, StoreConfig
from gateway.store import Row
from tests.agent.sim.support import agent_buses, agent_config, drained, make_site, outbox_settings, until
from tests.gateway.ingest.support import make_config
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

SPEED = 30.0
POLL_S = 0.2
SIM_SECONDS = 360.0
DEVICES = [("p1", "cw-pile-10"), ("p2", "vx-pile-12")]
PARAMS = {d: {"initial_occupancy": 1.0} for d, _ in DEVICES}
FALSE_ALERTS = {"current_spike", "overcurrent"}


def _status(port: int, path: str) -> tuple[int, str]:
    """HTTP status and the first word of the error (or of the body) of a GET to the API."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()[:40]
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["error"].split()[0]


def _energy_vs_power(rows: list[Row]) -> tuple[float, float]:
    """(metered kWh, ∫ power dt in kWh) summed over the ports, from the stored samples."""
    by_port: dict[str, list[Row]] = {}
    for row in rows:
        by_port.setdefault(row.tags["port"], []).append(row)
    metered = integrated = 0.0
    for samples in by_port.values():
        pts = [r for r in samples if "meter" in r.fields and "power" in r.fields]
        for a, b in itertools.pairwise(pts):
            integrated += float(a.fields["power"]) * (b.ts - a.ts) / 1000 / 3.6e6
        if len(pts) > 1:
            metered += float(pts[-1].fields["meter"]) - float(pts[0].fields["meter"])
    return metered, integrated


async def test_agent_stamps_with_the_device_clock_at_speed_and_no_false_alerts(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    site = make_site(tmp_path, "tcp", DEVICES, params=PARAMS, shared=False)
    cfg = make_config(tmp_path, mosquitto.port, "http://127.0.0.1:1", analytics="pipeline")
    cfg = msgspec.structs.replace(
        cfg,
        store=StoreConfig(kind="sqlite", path=str(tmp_path / "store.sqlite")),
        # simulated time runs ahead of the wall clock at speed > 1: allow for it explicitly
        limits=LimitsConfig(max_future_skew_s=86400.0, ack_interval_s=0.1),
    )
    async with Gateway(cfg) as gw, SiteRunner(site, speed=SPEED) as runner:
        await gw.mqtt.wait_connected(10)
        agent_cfg = agent_config(
            agent_buses(runner, poll_s=POLL_S, timeout_s=0.05, retries=1),
            outbox_settings(tmp_path),
            mqtt=MqttSettings(url=mosquitto.url, client_id="agent-speed"),
        )
        async with Agent(validate_config(agent_cfg, tmp_path / "agent.yaml")) as agent:
            assert agent.link is not None
            async with asyncio.timeout(10):
                await agent.link.wait_connected()
            wall0, sim0 = time.time(), runner.time
            await until(lambda: runner.time - sim0 >= SIM_SECONDS, within=SIM_SECONDS / SPEED * 4)
            upto = await agent.store.run(agent.outbox.last_id)
            await until(lambda: drained(agent, upto), within=20.0)
        await gw.spool.flush()
        start_ms, end_ms = int((wall0 - 60) * 1000), int((wall0 + 86400) * 1000)
        piles = await gw.store.series("pile", ["total_power"], {"device": "p1"}, start_ms, end_ms)
        ports = await gw.store.series("port", ["meter", "power"], {"device": "p2"}, start_ms, end_ms)
        alerts = gw.alerts(False)
        unknown = await asyncio.to_thread(_status, gw.http_port, "/api/series?device=p2&port=0&field=volts")
        known = await asyncio.to_thread(_status, gw.http_port, "/api/series?device=p2&port=0&field=meter")

    assert unknown[0] == 400, f"an unknown field is a client error, got {unknown}"
    assert known[0] == 200
    stamps = [r.ts / 1000 for r in piles]
    assert len(stamps) > 50, "the agent kept polling"
    gaps = sorted(b - a for a, b in itertools.pairwise(stamps))
    median_gap = gaps[len(gaps) // 2]
    assert SPEED * POLL_S * 0.5 <= median_gap <= SPEED * POLL_S * 2, f"median gap {median_gap:.2f} s"
    assert stamps[-1] - stamps[0] >= SIM_SECONDS * 0.8, "stamps span the simulated minutes"
    assert stamps[0] >= wall0 - 5, "the device clock was set to the wall clock at start"
    metered, integrated = _energy_vs_power(ports)
    assert integrated > 0.05, f"the ports were charging ({integrated:.3f} kWh)"
    assert 0.8 <= metered / integrated <= 1.25, f"meter {metered:.4f} kWh vs power×time {integrated:.4f} kWh"
    false = [a for a in alerts if a["kind"] in FALSE_ALERTS]
    assert false == [], f"false alerts at speed {SPEED}: {false}"

"""A missing sensor through the real chain: the simulator serves the profile's "no sensor"
sentinel over Modbus TCP → the edge agent publishes null plus a ``no_sensor`` flag → the gateway
stores the flag and no plausible-looking value (−0.1 °C, 42,949,672 kWh) for those readings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest

from chargewatch.messages import Telemetry, decode_device_message
from edge_agent.agent import Agent
from edge_agent.config import validate_config
from edge_agent.mqtt import MqttSettings
from edge_agent.outbox import Row
from firmware_sim import SiteRunner
from gateway.app import Gateway
from gateway.config import StoreConfig
from tests.agent.sim.support import agent_buses, agent_config, make_site, outbox_settings, until
from tests.gateway.ingest.support import make_config
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

NO_SENSOR = {
    "p1": ["socket_temp[2]", "meter[4]", "ambient_temp"],
    "p2": ["socket_temp[1]", "energy[0]"],
}


class _Published:
    """Outbox listener keeping every committed telemetry message."""

    def __init__(self) -> None:
        self.messages: list[Telemetry] = []

    def committed(self, rows: Sequence[Row]) -> None:
        for r in rows:
            msg = decode_device_message(r.payload)
            if isinstance(msg, Telemetry):
                self.messages.append(msg)

    def deleted(self, ids: Sequence[int]) -> None:
        """Acked rows; nothing to keep."""


async def test_a_missing_sensor_is_null_with_a_flag_and_never_stored_as_a_reading(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    site = make_site(
        tmp_path,
        "tcp",
        [("p1", "cw-pile-10"), ("p2", "vx-pile-12")],
        params={d: {"no_sensor": names} for d, names in NO_SENSOR.items()},
        shared=False,
    )
    cfg = make_config(tmp_path, mosquitto.port, "http://unused", client_id="gw-nosensor")
    cfg = msgspec.structs.replace(cfg, store=StoreConfig(kind="sqlite", path=str(tmp_path / "ts.sqlite")))
    published = _Published()
    async with Gateway(cfg) as gw, SiteRunner(site, speed=1.0) as runner:
        agent_cfg = agent_config(
            agent_buses(runner, poll_s=0.25, timeout_s=0.1, retries=1),
            outbox_settings(tmp_path),
            mqtt=MqttSettings(url=mosquitto.url, client_id="agent-nosensor"),
        )
        async with Agent(validate_config(agent_cfg, tmp_path / "agent.yaml")) as agent:
            agent.outbox.add_listener(published)
            await until(lambda: gw.metrics.get("cw_ingest_messages_total") >= 10, within=30.0)
        await gw.spool.flush()
        rows = {
            (device, port): await gw.store.series(
                "port",
                ["socket_temp", "meter", "energy", "flags"],
                {"device": device, "port": str(port)},
                0,
                2**62,
            )
            for device, port in [("p1", 2), ("p1", 4), ("p1", 0), ("p2", 1), ("p2", 0)]
        }
        piles = await gw.store.series("pile", ["ambient_temp", "flags"], {"device": "p1"}, 0, 2**62)

    p1 = [m for m in published.messages if m.device == "p1"]
    p2 = [m for m in published.messages if m.device == "p2"]
    assert p1
    assert p2
    for m in p1:
        assert m.ports["socket_temp"][2] is None
        assert m.flags["socket_temp[2]"] == "no_sensor"
        assert m.ports["meter"][4] is None
        assert m.flags["meter[4]"] == "no_sensor"
        assert m.values["ambient_temp"] is None
        assert m.flags["ambient_temp"] == "no_sensor"
        assert m.ports["socket_temp"][0] is not None
    for m in p2:
        assert m.ports["socket_temp"][1] is None
        assert m.flags["socket_temp[1]"] == "no_sensor"
        assert m.ports["energy"][0] is None
        assert m.flags["energy[0]"] == "no_sensor"

    def only_flags(key: tuple[str, int], field: str) -> None:
        assert rows[key], f"nothing stored for {key}"
        for r in rows[key]:
            assert field not in r.fields, f"{key} stored {field}={r.fields[field]}"
            assert f"{field}:no_sensor" in str(r.fields["flags"])

    only_flags(("p1", 2), "socket_temp")
    only_flags(("p1", 4), "meter")
    only_flags(("p2", 1), "socket_temp")
    only_flags(("p2", 0), "energy")
    assert all(isinstance(r.fields.get("socket_temp"), float) for r in rows[("p1", 0)])
    assert piles
    assert all("ambient_temp" not in r.fields for r in piles)
    assert all("ambient_temp:no_sensor" in str(r.fields["flags"]) for r in piles)

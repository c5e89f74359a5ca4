"""The physics through the real serving layer: a pymodbus client reads and writes real servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.devices import Blocker, Pile
from firmware_sim.faults import Fault, read_labels
from firmware_sim.runner import SiteRunner
from firmware_sim.site import load_site
from tests.sim.serve.modbus_client import client_for

SITE = """\
site: physics-site
start_time: 2025-07-15T13:00:00+08:00
seed: 5
ambient: summer
devices:
  - {id: pile-a, model: cw-pile-10, transport: tcp, unit: 1, port: 0,
     params: {plug_rate_per_h: 0, initial_occupancy: 1.0, temp_cut_c: 0}}
  - {id: lift-a, model: cw-blocker, transport: tcp, unit: 2, port: 0,
     params: {ebike_rate_per_h: 0, false_rate_per_h: 0}}
"""


@pytest.mark.integration
async def test_modbus_relay_write_cuts_current_and_faults_label_through_the_runner(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(SITE)
    site = load_site(tmp_path / "site.yaml")
    labels = tmp_path / "labels.jsonl"
    faults = [
        ("pile-a", Fault(kind="connector_overheat", at=site.start_time + 10, port=5)),
        ("lift-a", Fault(kind="blocker_relay_stuck", at=site.start_time + 10)),
    ]
    async with SiteRunner(site, speed=None, faults=faults, labels=labels) as runner:
        pile, lift = runner.devices["pile-a"], runner.devices["lift-a"]
        assert isinstance(pile.model, Pile)
        assert isinstance(lift.model, Blocker)
        ep_pile, ep_lift = runner.endpoints[0], runner.endpoints[1]
        client = client_for(ep_pile)
        await client.connect()
        try:
            runner.advance(60)
            current = pile.model.profile.point("current")
            rsp = await client.read_input_registers(current.address_of(2), count=2, device_id=ep_pile.unit)
            assert current.decode(rsp.registers) > 0.5
            assert not (await client.write_coil(2, False, device_id=ep_pile.unit)).isError()
            runner.advance(1)
            rsp = await client.read_input_registers(current.address_of(2), count=2, device_id=ep_pile.unit)
            assert current.decode(rsp.registers) == 0.0
            state = pile.model.profile.point("state")
            rsp = await client.read_input_registers(state.address_of(2), count=1, device_id=ep_pile.unit)
            assert rsp.registers == [4]  # stopped
            runner.advance(2 * 3600)
            temp = pile.model.profile.point("socket_temp")
            rsp = await client.read_input_registers(temp.address_of(5), count=1, device_id=ep_pile.unit)
            assert temp.decode(rsp.registers) > 90
        finally:
            client.close()
        lift_client = client_for(ep_lift)
        await lift_client.connect()
        try:
            hold = lift.model.profile.point("hold_s")
            rsp = await lift_client.read_input_registers(hold.address, count=1, device_id=ep_lift.unit)
            assert rsp.registers[0] > 10 * lift.model.max_hold_s
        finally:
            lift_client.close()
    got = [(x.device, x.kind, x.event) for x in read_labels(labels)]
    assert got == [
        ("pile-a", "connector_overheat", "onset"),
        ("lift-a", "blocker_relay_stuck", "onset"),
        ("pile-a", "connector_overheat", "critical"),
    ]

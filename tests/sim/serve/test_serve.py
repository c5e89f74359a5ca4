"""Every register type and word order of the shipped profiles, served over TCP, RTU over TCP
and RTU on a serial line, read back with a real pymodbus client and compared with the model."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusIOException

from firmware_sim.devices import Pile
from firmware_sim.faults import Fault, read_labels
from firmware_sim.registers import TABLES
from firmware_sim.runner import Endpoint, SiteRunner
from firmware_sim.site import load_site
from tests.sim.serve.expect import expected_words, point_value
from tests.sim.serve.fakes import FakeModel, fake_factory, write_site
from tests.sim.serve.modbus_client import client_for, read_table
from tests.support.servers import PtyPair, free_port

MODELS = ("cw-pile-10", "vx-pile-12", "cw-blocker")


def _tcp_site(tmp_path: Path, transport: str) -> Path:
    devices = "".join(
        f"  - {{id: d{i}, model: {m}, transport: {transport}, unit: {i + 1}, port: 0}}\n"
        for i, m in enumerate(MODELS)
    )
    return write_site(tmp_path / "site.yaml", devices)


def _rtu_site(tmp_path: Path, serial: Path) -> Path:
    devices = "".join(
        f"  - {{id: d{i}, model: {m}, transport: rtu, unit: {i + 1}, serial: {serial}}}\n"
        for i, m in enumerate(MODELS)
    )
    return write_site(tmp_path / "site.yaml", devices)


async def _check_all_tables(runner: SiteRunner) -> int:
    checked = 0
    for ep in runner.endpoints:
        model = runner.devices[ep.device].model
        client = client_for(ep)
        await client.connect()
        try:
            for table in TABLES:
                size = model.profile.table_size(table)
                if not size:
                    continue
                got = await read_table(client, table, size, ep.unit)
                assert got == expected_words(model, table, size), f"{ep.device} {table}"
                for point, port, addr in model.profile.instances():
                    if point.table == table:
                        value = point.decode(got[addr : addr + point.width])
                        want = point_value(model, point.name, port)
                        half = point.scale / 2 + 1e-9  # a value half-way between two steps rounds up
                        assert value == pytest.approx(want, abs=half, rel=1e-6), point.name
                        checked += 1
        finally:
            client.close()
    return checked


@pytest.mark.parametrize("transport", ["tcp", "rtu_over_tcp"])
async def test_every_point_over_tcp_transports(tmp_path: Path, transport: str) -> None:
    site = load_site(_tcp_site(tmp_path, transport))
    async with SiteRunner(site, speed=None, rtc="site") as runner:  # the real physics
        assert {ep.transport for ep in runner.endpoints} == {transport}
        assert all(ep.port > 0 for ep in runner.endpoints)
        assert len({ep.port for ep in runner.endpoints}) == len(MODELS)  # one server instance each
        runner.advance(600)
        n = await _check_all_tables(runner)
        runner.advance(1)
        assert await _check_all_tables(runner) == n
    assert n == sum(len(runner.devices[f"d{i}"].image.profile.instances()) for i in range(len(MODELS)))


@pytest.mark.integration
async def test_every_point_over_rtu_serial_bus(tmp_path: Path, pty_pair: PtyPair) -> None:
    site = load_site(_rtu_site(tmp_path, pty_pair.a))
    async with SiteRunner(site, speed=None, rtc="site") as runner:
        assert len(site.buses) == 1  # three unit ids on one line
        runner.advance(300)
        eps = [Endpoint(**{**ep.to_json(), "serial": str(pty_pair.b)}) for ep in runner.endpoints]
        client = client_for(eps[0])
        await client.connect()
        try:
            for ep in eps:
                model = runner.devices[ep.device].model
                for table in TABLES:
                    size = model.profile.table_size(table)
                    if size:
                        got = await read_table(client, table, size, ep.unit)
                        assert got == expected_words(model, table, size), f"{ep.device} {table}"
            # a unit nobody serves stays silent on the bus
            with pytest.raises(ModbusIOException):
                await client.read_input_registers(0, count=1, device_id=9)
        finally:
            client.close()


async def test_writes_route_to_model_and_bad_requests_get_exceptions(tmp_path: Path) -> None:
    site = load_site(_tcp_site(tmp_path, "tcp"))
    async with SiteRunner(site, speed=None, factory=fake_factory, rtc="site") as runner:
        cw, vx = runner.endpoints[0], runner.endpoints[1]
        cw_model = cast(FakeModel, runner.devices[cw.device].model)
        vx_model = cast(FakeModel, runner.devices[vx.device].model)
        c1, c2 = client_for(cw), client_for(vx)
        await c1.connect()
        await c2.connect()
        try:
            rsp = await c1.write_coil(3, False, device_id=cw.unit)  # relay_on port 3
            assert not rsp.isError()
            assert cw_model.written[("relay_on", 3)] == 0.0
            rsp = await c1.write_coils(0, [True, False], device_id=cw.unit)
            assert not rsp.isError()
            assert (cw_model.written[("relay_on", 0)], cw_model.written[("relay_on", 1)]) == (1.0, 0.0)
            rsp = await c1.write_register(0, 655, device_id=cw.unit)  # temp_cut_c 65.5 degC
            assert not rsp.isError()
            assert cw_model.written[("temp_cut_c", None)] == pytest.approx(65.5)
            # word-swapped u32 on the second vendor: 40000 s = 0x9C40 → [0x9C40, 0x0000]
            rsp = await c2.write_registers(1011, [0x9C40, 0], device_id=vx.unit)
            assert not rsp.isError()
            assert vx_model.written[("max_session_s", None)] == 40000.0
            for call, code in [
                (c1.write_register(100, 1, device_id=cw.unit), ExcCodes.ILLEGAL_ADDRESS),  # not writable
                (c1.write_register(0, 1600, device_id=cw.unit), ExcCodes.ILLEGAL_VALUE),  # 160 > range
                (c1.write_register(0, 1300, device_id=cw.unit), ExcCodes.ILLEGAL_VALUE),  # model refuses
                (c2.write_register(1011, 1, device_id=vx.unit), ExcCodes.ILLEGAL_ADDRESS),  # half a u32
                (c1.read_input_registers(250, count=20, device_id=cw.unit), ExcCodes.ILLEGAL_ADDRESS),
                (c1.read_holding_registers(0, count=3, device_id=cw.unit), ExcCodes.ILLEGAL_ADDRESS),
            ]:
                rsp = await call
                assert rsp.isError()
                assert rsp.exception_code == code
            assert cw_model.written[("temp_cut_c", None)] == pytest.approx(65.5)
        finally:
            c1.close()
            c2.close()


async def test_relay_write_switches_a_charging_port_off_in_the_physics(tmp_path: Path) -> None:
    site = load_site(_tcp_site(tmp_path, "tcp"))
    async with SiteRunner(site, speed=None, rtc="site") as runner:
        runner.advance(60)
        cw, vx = runner.endpoints[0], runner.endpoints[1]
        c1, c2 = client_for(cw), client_for(vx)
        await c1.connect()
        await c2.connect()
        try:
            for ep, client in ((cw, c1), (vx, c2)):
                pile = cast(Pile, runner.devices[ep.device].model)
                port = next(i for i, p in enumerate(pile.ports) if p.charging)
                state = pile.profile.point("state")
                relay = pile.profile.point("relay_on")
                if relay.table == "coil":
                    rsp = await client.write_coil(relay.address_of(port), False, device_id=ep.unit)
                else:
                    rsp = await client.write_register(relay.address_of(port), 0, device_id=ep.unit)
                assert not rsp.isError()
                assert not pile.ports[port].relay_on
                assert not pile.ports[port].charging
                runner.advance(5)
                assert pile.ports[port].power == 0.0
                read = (
                    client.read_input_registers if state.table == "input" else client.read_holding_registers
                )
                rsp = await read(state.address_of(port), count=1, device_id=ep.unit)
                stopped = next(code for code, name in (state.values or {}).items() if name == "stopped")
                assert rsp.registers == [stopped]
        finally:
            c1.close()
            c2.close()


async def test_unresponsive_fault_silences_the_pile_and_labels_it(tmp_path: Path) -> None:
    site = load_site(_tcp_site(tmp_path, "tcp"))
    fault = Fault(kind="pile_unresponsive", at=site.start_time + 5, params={"duration_s": 10.0})
    labels = tmp_path / "labels.jsonl"
    async with SiteRunner(site, speed=None, faults=[("d0", fault)], labels=labels, rtc="site") as runner:
        ep = runner.endpoints[0]
        client = client_for(ep, timeout=0.3)
        await client.connect()
        try:
            runner.advance(6)
            assert not runner.devices["d0"].model.responding
            with pytest.raises(ModbusIOException):
                await client.read_input_registers(0, count=7, device_id=ep.unit)
            runner.advance(10)
            await client.connect()
            rsp = await client.read_input_registers(0, count=7, device_id=ep.unit)
            assert not rsp.isError()
        finally:
            client.close()
    got = [(lb.device, lb.kind, lb.event, lb.t - site.start_time) for lb in read_labels(labels)]
    assert got == [("d0", "pile_unresponsive", "onset", 5.0), ("d0", "pile_unresponsive", "end", 15.0)]


async def test_two_units_behind_one_rtu_over_tcp_gateway(tmp_path: Path) -> None:
    port = free_port()
    devices = (
        f"  - {{id: g1, model: cw-pile-10, transport: rtu_over_tcp, port: {port}, unit: 1}}\n"
        f"  - {{id: g2, model: vx-pile-12, transport: rtu_over_tcp, port: {port}, unit: 2}}\n"
    )
    site = load_site(write_site(tmp_path / "site.yaml", devices))
    async with SiteRunner(site, speed=None, rtc="site") as runner:
        runner.advance(30)
        assert [(ep.port, ep.unit) for ep in runner.endpoints] == [(port, 1), (port, 2)]
        assert await _check_all_tables(runner) > 0

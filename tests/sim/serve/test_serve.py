"""Every register type and word order of the shipped profiles, served over TCP, RTU over TCP
and RTU on a serial line, read back with a real pymodbus client and compared with the model."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusIOException

from firmware_sim.model import DeviceModel
from firmware_sim.registers import TABLES
from firmware_sim.runner import Endpoint, SiteRunner
from firmware_sim.site import load_site
from tests.sim.serve.fakes import FakeModel, fake_factory, write_site
from tests.sim.serve.modbus_client import client_for, read_table
from tests.support.servers import PtyPair

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


def _expected_words(model: FakeModel, table: str, size: int) -> list[int]:
    """The table as the model's own values encode it (gaps are 0)."""
    words = [0] * size
    for point, port, addr in model.profile.instances():
        if point.table == table:
            words[addr : addr + point.width] = point.encode(model.value(point.name, port))
    return words


async def _check_all_tables(runner: SiteRunner) -> int:
    checked = 0
    for ep in runner.endpoints:
        model = cast(FakeModel, runner.devices[ep.device].model)
        client = client_for(ep)
        await client.connect()
        try:
            for table in TABLES:
                size = model.profile.table_size(table)
                if not size:
                    continue
                got = await read_table(client, table, size, ep.unit)
                assert got == _expected_words(model, table, size), f"{ep.device} {table}"
                for point, port, addr in model.profile.instances():
                    if point.table == table:
                        assert point.decode(got[addr : addr + point.width]) == model.value(point.name, port)
                        checked += 1
        finally:
            client.close()
    return checked


@pytest.mark.parametrize("transport", ["tcp", "rtu_over_tcp"])
async def test_every_point_over_tcp_transports(tmp_path: Path, transport: str) -> None:
    site = load_site(_tcp_site(tmp_path, transport))
    async with SiteRunner(site, speed=None, factory=fake_factory) as runner:
        assert {ep.transport for ep in runner.endpoints} == {transport}
        assert all(ep.port > 0 for ep in runner.endpoints)
        assert len({ep.port for ep in runner.endpoints}) == len(MODELS)  # one server instance each
        runner.advance(3)
        n = await _check_all_tables(runner)
        runner.advance(1)
        assert await _check_all_tables(runner) == n
    assert n == sum(len(runner.devices[f"d{i}"].image.profile.instances()) for i in range(len(MODELS)))


@pytest.mark.integration
async def test_every_point_over_rtu_serial_bus(tmp_path: Path, pty_pair: PtyPair) -> None:
    site = load_site(_rtu_site(tmp_path, pty_pair.a))
    async with SiteRunner(site, speed=None, factory=fake_factory) as runner:
        assert len(site.buses) == 1  # three unit ids on one line
        runner.advance(2)
        eps = [Endpoint(**{**ep.to_json(), "serial": str(pty_pair.b)}) for ep in runner.endpoints]
        client = client_for(eps[0])
        await client.connect()
        try:
            for ep in eps:
                model = cast(FakeModel, runner.devices[ep.device].model)
                for table in TABLES:
                    size = model.profile.table_size(table)
                    if size:
                        got = await read_table(client, table, size, ep.unit)
                        assert got == _expected_words(model, table, size), f"{ep.device} {table}"
            # a unit nobody serves stays silent on the bus
            with pytest.raises(ModbusIOException):
                await client.read_input_registers(0, count=1, device_id=9)
        finally:
            client.close()


async def test_writes_route_to_model_and_bad_requests_get_exceptions(tmp_path: Path) -> None:
    site = load_site(_tcp_site(tmp_path, "tcp"))
    async with SiteRunner(site, speed=None, factory=fake_factory) as runner:
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


async def test_silent_device_times_out_then_answers_again(tmp_path: Path) -> None:
    site = load_site(_tcp_site(tmp_path, "tcp"))
    async with SiteRunner(site, speed=None, factory=fake_factory) as runner:
        ep = runner.endpoints[2]
        model: DeviceModel = runner.devices[ep.device].model
        client = client_for(ep, timeout=0.3)
        await client.connect()
        try:
            cast(FakeModel, model).responding = False
            runner.advance(1)
            with pytest.raises(ModbusIOException):
                await client.read_discrete_inputs(0, count=5, device_id=ep.unit)
            cast(FakeModel, model).responding = True
            runner.advance(1)
            await client.connect()
            rsp = await client.read_discrete_inputs(0, count=5, device_id=ep.unit)
            assert not rsp.isError()
        finally:
            client.close()

"""Test-side Modbus helpers: read a whole table through a real pymodbus client."""

from __future__ import annotations

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU

from firmware_sim.runner import Endpoint

Client = AsyncModbusTcpClient | AsyncModbusSerialClient
_BLOCK = {"coil": 2000, "discrete": 2000, "holding": 125, "input": 125}


def client_for(ep: Endpoint, timeout: float = 1.0) -> Client:
    """A pymodbus client speaking the endpoint's transport (not yet connected)."""
    if ep.transport == "rtu":
        return AsyncModbusSerialClient(
            ep.serial, framer=FramerType.RTU, baudrate=115200, timeout=timeout, retries=0
        )
    framer = FramerType.SOCKET if ep.transport == "tcp" else FramerType.RTU
    return AsyncModbusTcpClient(ep.host, port=ep.port, framer=framer, timeout=timeout, retries=0)


async def _read(client: Client, table: str, address: int, count: int, unit: int) -> ModbusPDU:
    if table == "coil":
        return await client.read_coils(address, count=count, device_id=unit)
    if table == "discrete":
        return await client.read_discrete_inputs(address, count=count, device_id=unit)
    if table == "holding":
        return await client.read_holding_registers(address, count=count, device_id=unit)
    return await client.read_input_registers(address, count=count, device_id=unit)


async def read_table(client: Client, table: str, size: int, unit: int) -> list[int]:
    """Every word (bits as 0/1) of ``table`` from 0 to ``size`` in maximal blocks."""
    out: list[int] = []
    for start in range(0, size, _BLOCK[table]):
        count = min(_BLOCK[table], size - start)
        rsp = await _read(client, table, start, count, unit)
        assert not rsp.isError(), f"{table} {start}+{count}: {rsp}"
        if table in {"coil", "discrete"}:
            out.extend(int(b) for b in rsp.bits[:count])
        else:
            out.extend(rsp.registers)
    return out

"""Typed failures of the Modbus side, each carrying the bus, device, unit and address."""

from __future__ import annotations

from chargewatch.errors import ChargeWatchError


class ModbusError(ChargeWatchError):
    """A Modbus request failed; attributes say where."""

    def __init__(self, bus: str, unit: int, detail: str, table: str = "", address: int = -1) -> None:
        where = f"bus {bus} unit {unit}" + (f" {table}@{address}" if table else "")
        super().__init__(f"{where}: {detail}")
        self.bus = bus
        self.unit = unit
        self.table = table
        self.address = address
        self.detail = detail


class DeviceTimeoutError(ModbusError):
    """The device did not answer before the request deadline."""


class ResponseMismatchError(ModbusError):
    """A response arrived but belongs to another request (unit, function, length or transaction)."""


class DeviceRefusedError(ModbusError):
    """The device answered with a Modbus exception code."""


class BusUnavailableError(ModbusError):
    """The bus itself (TCP connection or serial port) is not usable right now."""


class WriteNotVerifiedError(ModbusError):
    """A write was acknowledged but reading the point back gave another value."""

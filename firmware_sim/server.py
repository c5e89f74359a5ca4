"""Serving register images over real Modbus: one pymodbus server instance per bus.

A *bus* is one endpoint: a TCP listener (Modbus TCP or RTU framing over TCP) or a serial
line (RTU). Every TCP device normally gets its own bus; several unit ids share a bus when
they sit behind one serial line or one serial-to-TCP gateway. Servers are instances
(never pymodbus's process-global ``Start*Server`` helpers) and each bus is an async
context manager that listens on entry and closes on exit.

pymodbus 3.16 routes every request through ``server.context.async_getValues`` /
``async_setValues``; :class:`_UnitsCore` stands in for its register simulator there and
answers from the live register images, routing writes to the device models.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusBaseServer, ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore

from chargewatch.errors import ChargeWatchError
from chargewatch.logs import kv
from chargewatch.profiles import CLOCK_POINT, Table
from firmware_sim.model import DeviceModel, WriteRefusedError
from firmware_sim.registers import IllegalAddressError, IllegalValueError, RegisterImage

log = logging.getLogger(__name__)

Transport = Literal["tcp", "rtu", "rtu_over_tcp"]

_FC_TABLE: dict[int, Table] = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 4: "input"}
_FC_TABLE.update(dict.fromkeys((3, 6, 16, 22, 23), "holding"))
_BIT_TABLES = frozenset({"coil", "discrete"})


class ServeError(ChargeWatchError):
    """A bus could not be opened (port in use, serial line missing)."""


@dataclass(frozen=True, slots=True)
class BusSpec:
    """Where one bus listens. ``port`` 0 lets the OS choose; ``serial`` is used for RTU only."""

    transport: Transport
    host: str = "127.0.0.1"
    port: int = 0
    serial: str = ""
    baudrate: int = 115200
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1

    @property
    def label(self) -> str:
        """Human-readable endpoint for logs and errors."""
        if self.transport == "rtu":
            return f"rtu:{self.serial}"
        return f"{self.transport}:{self.host}:{self.port}"


class ServedDevice:
    """A device model and its register image, answering Modbus requests for one unit id."""

    def __init__(self, model: DeviceModel, image: RegisterImage, unit: int, rtc_offset: float = 0.0) -> None:
        self.model = model
        self.image = image
        self.unit = unit
        #: added to the model's simulated time in its ``device_clock`` register (see SiteRunner)
        self.rtc_offset = rtc_offset

    def refresh(self) -> None:
        """Re-encode the image from the model (after a step or an accepted write)."""
        values = self.model.read_points()
        if self.rtc_offset and isinstance(clock := values.get(CLOCK_POINT), float):
            values = {**values, CLOCK_POINT: clock + self.rtc_offset}
        self.image.refresh(values, self.model.raw_overrides())

    def read(self, func_code: int, address: int, count: int) -> list[int] | list[bool] | ExcCodes:
        """Answer a read; bit tables as bools."""
        table = _FC_TABLE.get(func_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        try:
            words = self.image.read(table, address, count)
        except IllegalAddressError:
            return ExcCodes.ILLEGAL_ADDRESS
        if table in _BIT_TABLES:
            return [bool(w) for w in words]
        return words

    def write(self, func_code: int, address: int, values: Sequence[int] | Sequence[bool]) -> ExcCodes | None:
        """Decode a write per profile and route it to the model; None when accepted."""
        table = _FC_TABLE.get(func_code)
        if table is None or table not in {"coil", "holding"}:
            return ExcCodes.ILLEGAL_FUNCTION
        raw = [int(v) for v in values]
        try:
            planned = self.image.plan_write(table, address, raw)
        except IllegalAddressError as exc:
            log.info(kv("write_rejected", device=self.image.device_id, code="illegal_address", why=exc))
            return ExcCodes.ILLEGAL_ADDRESS
        except IllegalValueError as exc:
            log.info(kv("write_rejected", device=self.image.device_id, code="illegal_value", why=exc))
            return ExcCodes.ILLEGAL_VALUE
        try:
            for w in planned:
                self.model.write_point(w.point, w.port, w.value)
        except WriteRefusedError as exc:
            log.info(kv("write_refused", device=exc.device, point=exc.point, port=exc.port, why=exc.reason))
            self.refresh()
            return ExcCodes.ILLEGAL_VALUE
        for w in planned:
            log.info(
                kv("write_accepted", device=self.image.device_id, point=w.point, port=w.port, value=w.value)
            )
        self.refresh()
        return None


class _UnitsCore(SimCore):
    """pymodbus datastore seam: unit id → served device; silent for unknown or mute units."""

    def __init__(self, units: Mapping[int, ServedDevice]) -> None:  # no SimCore state needed
        self.devices = {}
        self._units = dict(units)

    def _unit(self, device_id: int) -> ServedDevice:
        unit = self._units.get(device_id)
        if unit is None or not unit.model.responding:
            # with ignore_missing_devices the request handler sends nothing: a client timeout
            raise NoSuchIdException(f"unit {device_id} does not answer")
        return unit

    def device_ids(self) -> list[int]:
        return list(self._units)

    async def async_getValues(  # noqa: N802 - pymodbus's name
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        return self._unit(device_id).read(func_code, address, count)

    async def async_setValues(  # noqa: N802 - pymodbus's name
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        return self._unit(device_id).write(func_code, address, values)


def _placeholder() -> SimDevice:
    """pymodbus requires a datastore at construction; ours replaces it before listening."""
    return SimDevice(id=0, simdata=SimData(0, datatype=DataType.REGISTERS))


class ModbusBus:
    """One pymodbus server instance serving one or more units on one endpoint."""

    def __init__(self, spec: BusSpec, units: Mapping[int, ServedDevice]) -> None:
        if not units:
            raise ValueError(f"bus {spec.label} has no units")
        self.spec = spec
        self.units = dict(units)
        self._server: ModbusBaseServer | None = None
        self._port = spec.port

    @property
    def port(self) -> int:
        """The TCP port actually bound (the OS's choice when the spec said 0); 0 for serial."""
        return self._port

    def _make_server(self) -> ModbusBaseServer:
        spec = self.spec
        if spec.transport == "rtu":
            return ModbusSerialServer(
                _placeholder(),
                framer=FramerType.RTU,
                port=spec.serial,
                baudrate=spec.baudrate,
                parity=spec.parity,
                stopbits=spec.stopbits,
                ignore_missing_devices=True,
            )
        framer = FramerType.SOCKET if spec.transport == "tcp" else FramerType.RTU
        return ModbusTcpServer(
            _placeholder(), framer=framer, address=(spec.host, spec.port), ignore_missing_devices=True
        )

    async def __aenter__(self) -> Self:
        server = self._make_server()
        server.context = _UnitsCore(self.units)
        try:
            await server.serve_forever(background=True)
        except (RuntimeError, OSError) as exc:
            server.close()
            raise ServeError(f"bus {self.spec.label}: cannot listen: {exc}") from exc
        if not server.transport:
            server.close()
            raise ServeError(f"bus {self.spec.label}: cannot open the endpoint")
        self._server = server
        sockets = getattr(server.transport, "sockets", None)
        if self.spec.transport != "rtu" and sockets:
            self._port = int(sockets[0].getsockname()[1])
        log.info(kv("bus_listening", endpoint=self.spec.label, port=self._port, units=sorted(self.units)))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            log.info(kv("bus_closed", endpoint=self.spec.label, port=self._port))

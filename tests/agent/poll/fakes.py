"""Profile-driven Modbus devices on plain pymodbus server instances, for the agent's tests.

Each :class:`FakeDevice` holds the four tables of one unit, filled from engineering values
with ``Point.encode``; tests can make it stop answering, answer late, or serve garbage.
:class:`FakeBus` serves several units on one TCP endpoint or one serial pty.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler

from chargewatch.profiles import DeviceProfile
from chargewatch.tasks import cancel_and_wait

_FC_TABLE = {
    1: "coil",
    5: "coil",
    15: "coil",
    2: "discrete",
    3: "holding",
    6: "holding",
    16: "holding",
    4: "input",
}


class FakeDevice:
    """One unit's registers, served per its profile."""

    def __init__(self, profile: DeviceProfile, unit: int) -> None:
        self.profile = profile
        self.unit = unit
        self.tables: dict[str, list[int]] = {t: [0] * 65536 for t in ("coil", "discrete", "input", "holding")}
        self.responding = True
        self.delays: list[float] = []
        self.served: list[tuple[str, int, int]] = []
        self.writes: list[tuple[str, int, list[int]]] = []
        self.stamp_requests = False
        self.requests = 0

    def set(self, name: str, value: float, port: int | None = None) -> None:
        point = self.profile.point(name)
        address = point.address_of(port)
        self.tables[point.table][address : address + point.width] = point.encode(value)

    def set_raw(self, name: str, regs: Sequence[int], port: int | None = None) -> None:
        point = self.profile.point(name)
        address = point.address_of(port)
        self.tables[point.table][address : address + len(regs)] = list(regs)

    def get(self, name: str, port: int | None = None) -> float:
        point = self.profile.point(name)
        address = point.address_of(port)
        return point.decode(self.tables[point.table][address : address + point.width])

    def fill_normal(self, seed: int = 1) -> None:
        """Plausible idle/charging values on every point."""
        rng = random.Random(seed)
        for point in self.profile.points:
            ports: list[int | None] = list(range(self.profile.ports)) if point.per_port else [None]
            for port in ports:
                if point.type == "bool":
                    value = 0.0
                elif point.values:
                    value = float(min(point.values))
                elif point.range:
                    lo, hi = point.range
                    value = lo + (hi - lo) * rng.uniform(0.1, 0.4)
                else:
                    value = float(rng.randint(0, 100))
                self.set(point.name, value, port)
        for port in range(self.profile.ports):
            self.set("relay_on", 1, port)
            self.set("current", 2.0, port)
            self.set("socket_temp", 30.0, port)


class _Context(ModbusServerContext):
    """Duck-typed server context routing requests to FakeDevice objects (no SimCore)."""

    def __init__(self, devices: dict[int, FakeDevice]) -> None:  # deliberately not calling super
        self.devices = devices
        self.old_simulator = True
        self.simdevices = []

    async def async_getValues(  # noqa: N802 -- pymodbus's name
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        dev = self._device(device_id)
        dev.requests += 1
        n = dev.requests
        if dev.delays:
            await asyncio.sleep(dev.delays.pop(0))
        table = _FC_TABLE[func_code]
        dev.served.append((table, address, count))
        values = dev.tables[table][address : address + count]
        if dev.stamp_requests and table not in ("coil", "discrete"):
            values = [n & 0xFFFF, *values[1:]]
        if table in ("coil", "discrete"):
            return [bool(v) for v in values]
        return list(values)

    async def async_setValues(  # noqa: N802 -- pymodbus's name
        self, device_id: int, func_code: int, address: int, values: Sequence[int] | Sequence[bool]
    ) -> ExcCodes | None:
        dev = self._device(device_id)
        table = _FC_TABLE[func_code]
        raw = [int(v) for v in values]
        dev.writes.append((table, address, raw))
        dev.tables[table][address : address + len(raw)] = raw
        return None

    def _device(self, unit: int) -> FakeDevice:
        dev = self.devices.get(unit)
        if dev is None or not dev.responding:
            raise NoSuchIdException(f"unit {unit} not answering")
        return dev

    def device_ids(self) -> list[int]:
        return list(self.devices)


class _SerialHandler(ServerRequestHandler):
    """pymodbus's handler reads ``last_pdu`` again *after* awaiting the datastore, so a delayed
    answer would carry the next request's transaction id. Real devices answer with the id they
    were asked with; capture the request before awaiting, as they do."""

    async def handle_request(self) -> None:
        # pymodbus starts each request as a task nobody awaits: track it, so that FakeBus can end
        # the ones still waiting (a delayed answer) instead of leaking them past the test
        task = asyncio.current_task()
        assert task is not None
        requests: set[asyncio.Task[None]] = self.server.requests
        requests.add(task)
        try:
            await self._answer()
        finally:
            requests.discard(task)

    async def _answer(self) -> None:
        pdu, addr = self.last_pdu, self.last_addr
        if pdu is None:
            return
        try:
            response = await pdu.datastore_update(self.server.context, pdu.dev_id)
        except NoSuchIdException:
            return
        response.transaction_id = pdu.transaction_id
        response.dev_id = pdu.dev_id
        self.server_send(response, addr)  # type: ignore[no-untyped-call]


class _TcpServer(ModbusTcpServer):
    requests: set[asyncio.Task[None]]

    def callback_new_connection(self) -> _SerialHandler:
        return _SerialHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)  # type: ignore[no-untyped-call]


class _RtuServer(ModbusSerialServer):
    requests: set[asyncio.Task[None]]

    def callback_new_connection(self) -> _SerialHandler:
        return _SerialHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)  # type: ignore[no-untyped-call]


class FakeBus:
    """Async context manager serving ``devices`` over TCP (``port``) or RTU on a serial ``tty``."""

    def __init__(
        self, devices: Sequence[FakeDevice], *, port: int = 0, tty: str = "", rtu_over_tcp: bool = False
    ) -> None:
        self.devices = {d.unit: d for d in devices}
        self.port = port
        self.tty = tty
        self.rtu_over_tcp = rtu_over_tcp
        self._server: Any = None

    async def __aenter__(self) -> FakeBus:
        context = _Context(self.devices)
        if self.tty:
            self._server = _RtuServer(
                context, framer=FramerType.RTU, port=self.tty, ignore_missing_devices=True
            )
        else:
            framer = FramerType.RTU if self.rtu_over_tcp else FramerType.SOCKET
            self._server = _TcpServer(
                context, framer=framer, address=("127.0.0.1", self.port), ignore_missing_devices=True
            )
        self._server.requests = set()
        await self._server.serve_forever(background=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(*self._server.requests)
        await self._server.shutdown()

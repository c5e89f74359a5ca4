"""One Modbus line or endpoint: the lock, the inter-request gap, deadlines and response checks.

All requests of a bus go through :meth:`BusClient.request`, serialised by one lock. Every
request has a deadline; the response must match the request's unit, function code and
length (pymodbus checks the MBAP transaction id on TCP). On RTU lines (serial or RTU over
TCP) there is no transaction id and pymodbus can hand back the previous request's late
answer, so after a timeout the line is drained: we wait until it has been quiet for
``drain_s`` and drop whatever arrived, before the next request is sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU

from chargewatch.logs import kv
from chargewatch.profiles import BIT_TABLES, Table
from edge_agent.config import BusConfig, RtuTcpBus, SerialBus
from edge_agent.modbus.errors import (
    BusUnavailableError,
    DeviceRefusedError,
    DeviceTimeoutError,
    ResponseMismatchError,
)

log = logging.getLogger(__name__)

_READ_FC: dict[str, int] = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
_NEVER_DISCONNECT = 1 << 30


class BusStats:
    """Counters of one bus, for health reporting and tests."""

    __slots__ = ("drains", "mismatches", "requests", "timeouts")

    def __init__(self) -> None:
        self.requests = 0
        self.timeouts = 0
        self.mismatches = 0
        self.drains = 0


def _make_client(cfg: BusConfig) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
    common: dict[str, Any] = {"timeout": cfg.timeout_s * 4, "retries": 0, "reconnect_delay": 0}
    if isinstance(cfg, SerialBus):
        return AsyncModbusSerialClient(
            cfg.serial_port,
            framer=FramerType.RTU,
            baudrate=cfg.baudrate,
            parity=cfg.parity,
            stopbits=cfg.stopbits,
            **common,
        )
    framer = FramerType.RTU if isinstance(cfg, RtuTcpBus) else FramerType.SOCKET
    return AsyncModbusTcpClient(cfg.host, port=cfg.port, framer=framer, **common)


class BusClient:
    """Async context manager owning one pymodbus client; requests are serialised by a lock."""

    def __init__(self, cfg: BusConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.stats = BusStats()
        self._rtu = isinstance(cfg, SerialBus | RtuTcpBus)
        self._drain_s = cfg.drain_s if isinstance(cfg, SerialBus | RtuTcpBus) else 0.0
        self._lock = asyncio.Lock()
        self._last_end = 0.0
        self._last_rx = 0.0
        self._needs_drain = False
        self._client = _make_client(cfg)
        self._client.ctx.trace_packet = self._trace
        self._client.set_max_no_responses(_NEVER_DISCONNECT)

    async def __aenter__(self) -> BusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._client.close()

    @property
    def connected(self) -> bool:
        """True while the TCP connection or serial port is open."""
        return self._client.connected

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._last_rx = time.monotonic()
        return data

    async def connect(self) -> None:
        """Open the connection or port; BusUnavailableError if that fails before the deadline."""
        if self._client.connected:
            return
        try:
            async with asyncio.timeout(self.cfg.timeout_s * 4):
                ok = await self._client.connect()
        except TimeoutError as exc:
            raise BusUnavailableError(self.name, 0, "connect timed out") from exc
        if not ok:
            raise BusUnavailableError(self.name, 0, "cannot connect")

    def close(self) -> None:
        """Close the connection; the next request reconnects."""
        self._client.close()

    async def _drain(self) -> None:
        """Wait until the line has been quiet for ``drain_s``, then drop anything buffered."""
        self._last_rx = max(self._last_rx, time.monotonic())
        for _ in range(8):
            quiet = time.monotonic() - self._last_rx
            if quiet >= self._drain_s:
                break
            await asyncio.sleep(self._drain_s - quiet)
        self._client.ctx.recv_buffer = b""
        self.stats.drains += 1
        self._needs_drain = False

    async def _gap(self) -> None:
        wait = self._last_end + self.cfg.min_gap_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def request(
        self, unit: int, table: Table, address: int, count: int, write: Sequence[int] | None = None
    ) -> list[int]:
        """Read ``count`` registers/bits, or write ``write`` there; one attempt with a deadline."""
        async with self._lock:
            if not self._client.connected:
                await self.connect()
            if self._needs_drain:
                await self._drain()
            await self._gap()
            self.stats.requests += 1
            try:
                async with asyncio.timeout(self.cfg.timeout_s):
                    pdu = await self._send(unit, table, address, count, write)
            except TimeoutError as exc:
                self.stats.timeouts += 1
                self._needs_drain = self._rtu
                raise DeviceTimeoutError(
                    self.name, unit, "no response before deadline", table, address
                ) from exc
            except ModbusException as exc:
                self.stats.mismatches += 1
                self._needs_drain = self._rtu
                if not self._client.connected:
                    raise BusUnavailableError(
                        self.name, unit, f"connection lost: {exc}", table, address
                    ) from exc
                raise ResponseMismatchError(self.name, unit, str(exc), table, address) from exc
            finally:
                self._last_end = time.monotonic()
            return self._check(pdu, unit, table, address, count=count, write=write)

    async def _send(
        self, unit: int, table: Table, address: int, count: int, write: Sequence[int] | None
    ) -> ModbusPDU:
        c = self._client
        if write is None:
            if table == "coil":
                return await c.read_coils(address, count=count, device_id=unit)
            if table == "discrete":
                return await c.read_discrete_inputs(address, count=count, device_id=unit)
            if table == "holding":
                return await c.read_holding_registers(address, count=count, device_id=unit)
            return await c.read_input_registers(address, count=count, device_id=unit)
        if table == "coil":
            if len(write) == 1:
                return await c.write_coil(address, bool(write[0]), device_id=unit)
            return await c.write_coils(address, [bool(b) for b in write], device_id=unit)
        if table == "holding":
            if len(write) == 1:
                return await c.write_register(address, write[0], device_id=unit)
            return await c.write_registers(address, list(write), device_id=unit)
        raise ValueError(f"table {table} is read-only")

    def _check(
        self,
        pdu: ModbusPDU,
        unit: int,
        table: Table,
        address: int,
        *,
        count: int,
        write: Sequence[int] | None,
    ) -> list[int]:
        if pdu.isError():
            raise DeviceRefusedError(
                self.name, unit, f"exception code {getattr(pdu, 'exception_code', '?')}", table, address
            )
        problem = ""
        if pdu.dev_id != unit:
            problem = f"response from unit {pdu.dev_id}"
        elif write is None and pdu.function_code != _READ_FC[table]:
            problem = f"function code {pdu.function_code}, expected {_READ_FC[table]}"
        elif write is None and table in BIT_TABLES and len(pdu.bits) != (count + 7) // 8 * 8:
            problem = f"{len(pdu.bits)} bits for a read of {count}"
        elif write is None and table not in BIT_TABLES and len(pdu.registers) != count:
            problem = f"{len(pdu.registers)} registers for a read of {count}"
        elif write is not None and getattr(pdu, "address", address) != address:
            problem = f"write echo for address {pdu.address}"
        if problem:
            self.stats.mismatches += 1
            self._needs_drain = self._rtu
            log.warning(
                kv("modbus_mismatch", bus=self.name, unit=unit, table=table, address=address, why=problem)
            )
            raise ResponseMismatchError(self.name, unit, problem, table, address)
        if write is not None:
            return list(write)
        if table in BIT_TABLES:
            return [1 if b else 0 for b in pdu.bits[:count]]
        return list(pdu.registers)

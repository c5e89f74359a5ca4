"""The Modbus side of the agent: block planning, one coordinator per bus, decoding."""

from edge_agent.modbus.bus import BusClient, BusStats
from edge_agent.modbus.coordinator import BusCoordinator, PolledDevice
from edge_agent.modbus.decode import Decoded, DeviceDecoder
from edge_agent.modbus.errors import (
    BusUnavailableError,
    DeviceRefusedError,
    DeviceTimeoutError,
    ModbusError,
    ResponseMismatchError,
    WriteNotVerifiedError,
)
from edge_agent.modbus.planner import Block, Slot, plan_blocks
from edge_agent.modbus.transitions import TransitionTracker

__all__ = [
    "Block",
    "BusClient",
    "BusCoordinator",
    "BusStats",
    "BusUnavailableError",
    "Decoded",
    "DeviceDecoder",
    "DeviceRefusedError",
    "DeviceTimeoutError",
    "ModbusError",
    "PolledDevice",
    "ResponseMismatchError",
    "Slot",
    "TransitionTracker",
    "WriteNotVerifiedError",
    "plan_blocks",
]

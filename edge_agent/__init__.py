"""ChargeWatch edge agent: Modbus in (one coordinator per bus), local interlocks, durable
outbox, MQTT out. Start with :class:`Agent` and :func:`load_config`."""

from edge_agent.agent import Agent, run_agent
from edge_agent.commands import CommandExecutor
from edge_agent.config import AgentConfig, LoadedConfig, load_config, validate_config
from edge_agent.interlocks import DeviceInterlocks, Trip

__all__ = [
    "Agent",
    "AgentConfig",
    "CommandExecutor",
    "DeviceInterlocks",
    "LoadedConfig",
    "Trip",
    "load_config",
    "run_agent",
    "validate_config",
]

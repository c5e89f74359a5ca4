"""Operator commands: write one point, only if the profile marks it writable AND config allows it.

Every refusal is a :class:`CommandReply` with ``ok=False`` and a reason naming why. Accepted
writes go through the device's bus coordinator (so they share the bus lock and gap with the
polls) and are read back before the reply says ``ok``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from chargewatch.clock import Clock, SystemClock
from chargewatch.logs import kv
from chargewatch.messages import Command, CommandReply
from edge_agent.config import CommandConfig
from edge_agent.modbus.coordinator import BusCoordinator
from edge_agent.modbus.errors import ModbusError

log = logging.getLogger(__name__)


class CommandExecutor:
    """Validates and executes :class:`Command` messages; usable as the link's ``on_command``."""

    def __init__(
        self, cfg: CommandConfig, buses: Mapping[str, BusCoordinator], clock: Clock | None = None
    ) -> None:
        self._allow = frozenset(cfg.allow)
        self._clock = clock or SystemClock()
        self._bus_of = {dev: bus for bus in buses.values() for dev in bus.devices}

    def _refusal(self, cmd: Command) -> str:
        bus = self._bus_of.get(cmd.device)
        if bus is None:
            return f"device {cmd.device!r} is not served by this agent"
        profile = bus.devices[cmd.device].profile
        point = profile.by_name.get(cmd.point)
        if point is None:
            return f"profile {profile.model} has no point {cmd.point!r}"
        if not point.writable:
            return f"point {cmd.point!r} is not writable in profile {profile.model}"
        if cmd.point not in self._allow:
            return f"point {cmd.point!r} is not in this agent's command allow-list (commands.allow)"
        if point.per_port and (cmd.port is None or not 0 <= cmd.port < profile.ports):
            return f"point {cmd.point!r} is per port: give port 0..{profile.ports - 1}"
        if not point.per_port and cmd.port is not None:
            return f"point {cmd.point!r} is not per port: remove port"
        if point.type == "bool" and cmd.value not in (0.0, 1.0):
            return f"point {cmd.point!r} takes 0 or 1, got {cmd.value}"
        if not point.plausible(cmd.value):
            return f"value {cmd.value} is outside {cmd.point!r}'s range {point.range}"
        try:
            point.encode(cmd.value)
        except ValueError as exc:
            return str(exc)
        return ""

    async def handle(self, cmd: Command) -> CommandReply:
        """Execute ``cmd``; never raises for a bad command or a device failure."""
        reason = self._refusal(cmd)
        if reason:
            log.warning(kv("command_refused", id=cmd.id, device=cmd.device, point=cmd.point, reason=reason))
            return CommandReply(id=cmd.id, device=cmd.device, ok=False, reason=reason, ts=self._clock.time())
        bus = self._bus_of[cmd.device]
        try:
            readback = await bus.write_point(cmd.device, cmd.point, cmd.port, cmd.value)
        except ModbusError as exc:
            log.warning(kv("command_failed", id=cmd.id, device=cmd.device, point=cmd.point, error=exc))
            return CommandReply(
                id=cmd.id, device=cmd.device, ok=False, reason=f"write failed: {exc}", ts=self._clock.time()
            )
        log.info(
            kv(
                "command_done",
                id=cmd.id,
                device=cmd.device,
                point=cmd.point,
                port=cmd.port,
                value=readback,
                operator=cmd.operator,
            )
        )
        return CommandReply(id=cmd.id, device=cmd.device, ok=True, reason="", ts=self._clock.time())

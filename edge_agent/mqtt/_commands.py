"""Command intake: decode, check, de-duplicate, run the agent's callback under a deadline, reply.

Bad payloads never crash the link: each gets a reply (or, with no usable id, a log line) that
names the reason. A command redelivered by the broker (QoS 1) is answered from a small cache of
recent replies instead of being executed twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import msgspec

from chargewatch.clock import Clock
from chargewatch.errors import ChargeWatchError, MessageError
from chargewatch.logs import kv
from chargewatch.messages import ID_PATTERN, Command, CommandReply, decode_message

log = logging.getLogger(__name__)

#: what the link calls with each valid Command (the agent passes CommandExecutor.handle)
CommandCallback = Callable[[Command], Awaitable[CommandReply]]
_ID = re.compile(ID_PATTERN)
_RECENT = 256


def _loose_id(raw: bytes) -> str | None:
    """The ``id`` of a payload that failed validation, when it still has a usable one."""
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    ident = obj.get("id") if isinstance(obj, dict) else None
    return ident if isinstance(ident, str) and _ID.match(ident) else None


class CommandDesk:
    """Turns raw ``cmd`` payloads into replies; one per link."""

    def __init__(self, handler: CommandCallback | None, clock: Clock, timeout: float) -> None:
        self._handler = handler
        self._clock = clock
        self._timeout = timeout
        self._recent: OrderedDict[str, CommandReply] = OrderedDict()

    def _fail(self, ident: str, device: str, reason: str) -> CommandReply:
        return CommandReply(id=ident, device=device, ok=False, reason=reason, ts=self._clock.time())

    async def handle(self, device: str, raw: bytes) -> CommandReply | None:
        """The reply to publish for one payload on ``device``'s cmd topic (None: nothing to answer)."""
        try:
            msg = decode_message(raw)
        except MessageError as exc:
            ident = _loose_id(raw)
            log.warning(kv("command_invalid", device=device, id=ident, reason=exc.reason, detail=exc.detail))
            return self._fail(ident, device, f"invalid: {exc}") if ident else None
        if not isinstance(msg, Command):
            log.warning(kv("command_invalid", device=device, reason="not_a_command"))
            return None
        if msg.device != device:
            log.warning(kv("command_invalid", device=device, id=msg.id, reason="device_mismatch"))
            return self._fail(msg.id, device, f"device_mismatch: payload says {msg.device!r}")
        cached = self._recent.get(msg.id)
        if cached is not None:
            log.info(kv("command_duplicate", device=device, id=msg.id))
            return cached
        reply = await self._run(msg)
        self._recent[msg.id] = reply
        while len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        return reply

    async def _run(self, cmd: Command) -> CommandReply:
        if self._handler is None:
            return self._fail(cmd.id, cmd.device, "unsupported: this agent takes no commands")
        log.info(kv("command", device=cmd.device, id=cmd.id, point=cmd.point, value=cmd.value, user=cmd.user))
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._handler(cmd)
        except TimeoutError:
            reply = self._fail(cmd.id, cmd.device, f"timeout: no result within {self._timeout} s")
        except ChargeWatchError as exc:
            reply = self._fail(cmd.id, cmd.device, f"failed: {exc}")
        except Exception as exc:
            log.exception(kv("command_crashed", device=cmd.device, id=cmd.id))
            reply = self._fail(cmd.id, cmd.device, f"internal_error: {type(exc).__name__}: {exc}")
        log.info(kv("command_done", device=cmd.device, id=cmd.id, ok=reply.ok, reason=reply.reason))
        return reply

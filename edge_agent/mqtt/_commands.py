"""Command intake: bound, decode, authenticate, run the agent's callback under a deadline, reply.

A payload is size- and depth-checked before any parsing, then must be a signed command the
:class:`~edge_agent.command_auth.CommandAuth` accepts (no auth configured: every command is
refused). Bad payloads never crash the link: each gets a reply (or, with no usable id, a log
line) whose reason starts with a code, and every refusal is logged once (``command_refused``)
and counted. Replies echo what was asked and by whom, so the gateway can keep an audit trail.
A command is executed at most once: its nonce is spent on first sight.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

import msgspec

from chargewatch.clock import Clock
from chargewatch.errors import ChargeWatchError, MessageError
from chargewatch.logs import kv
from chargewatch.messages import ID_PATTERN, Command, CommandReply
from chargewatch.signing import decode_command_payload
from edge_agent.command_auth import CommandAuth, CommandRefusedError
from edge_agent.health import Health

log = logging.getLogger(__name__)

#: what the link calls with each valid Command (the agent passes CommandExecutor.handle)
CommandCallback = Callable[[Command], Awaitable[CommandReply]]
_ID = re.compile(ID_PATTERN)


def _loose_id(raw: bytes) -> str | None:
    """The ``id`` of a (shape-checked) payload that failed validation, when it has a usable one."""
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    ident = obj.get("id") if isinstance(obj, dict) else None
    return ident if isinstance(ident, str) and _ID.match(ident) else None


class CommandDesk:
    """Turns raw ``cmd`` payloads into replies; one per link."""

    def __init__(
        self,
        handler: CommandCallback | None,
        clock: Clock,
        timeout: float,
        *,
        auth: CommandAuth | None = None,
        health: Health | None = None,
    ) -> None:
        self._handler = handler
        self._clock = clock
        self._timeout = timeout
        self._auth = auth or CommandAuth([], clock)
        self._health = health or Health()

    def _reply(self, cmd: Command, ok: bool, reason: str, key: str, verified: bool) -> CommandReply:
        return CommandReply(
            id=cmd.id,
            device=cmd.device,
            ok=ok,
            reason=reason,
            ts=self._clock.time(),
            point=cmd.point,
            port=cmd.port,
            value=cmd.value,
            operator=cmd.operator,
            nonce=cmd.nonce,
            key=key,
            verified=verified,
        )

    def _refuse(self, device: str, ident: str | None, code: str, detail: str, **echo: object) -> None:
        self._health.commands_refused += 1
        log.warning(kv("command_refused", device=device, id=ident, reason=code, detail=detail, **echo))

    async def handle(self, device: str, raw: bytes) -> CommandReply | None:
        """The reply to publish for one payload on ``device``'s cmd topic (None: nothing to answer)."""
        try:
            env = decode_command_payload(raw)
        except MessageError as exc:
            ident = _loose_id(raw) if exc.reason not in {"too_large", "too_deep"} else None
            self._refuse(device, ident, "invalid", str(exc))
            if ident is None:
                return None
            return CommandReply(
                id=ident, device=device, ok=False, reason=f"invalid: {exc}", ts=self._clock.time()
            )
        try:
            cmd, key = self._auth.check(env)
        except CommandRefusedError as refused:
            claimed = refused.command
            echo = {"key": refused.key, "operator": claimed.operator if claimed else None}
            self._refuse(device, claimed.id if claimed else None, refused.code, refused.detail, **echo)
            if claimed is None:
                return None
            return self._reply(claimed, False, str(refused), refused.key, verified=refused.verified)
        if cmd.device != device:
            detail = f"payload says {cmd.device!r}, topic says {device!r}"
            self._refuse(device, cmd.id, "device_mismatch", detail, key=key, operator=cmd.operator)
            return self._reply(cmd, False, f"device_mismatch: {detail}", key, verified=True)
        return await self._run(cmd, key)

    async def _run(self, cmd: Command, key: str) -> CommandReply:
        if self._handler is None:
            return self._reply(cmd, False, "unsupported: this agent takes no commands", key, verified=True)
        log.info(
            kv(
                "command",
                device=cmd.device,
                id=cmd.id,
                point=cmd.point,
                value=cmd.value,
                operator=cmd.operator,
            )
        )
        try:
            async with asyncio.timeout(self._timeout):
                result = await self._handler(cmd)
            reply = self._reply(cmd, result.ok, result.reason, key, verified=True)
        except TimeoutError:
            reply = self._reply(
                cmd, False, f"timeout: no result within {self._timeout} s", key, verified=True
            )
        except ChargeWatchError as exc:
            reply = self._reply(cmd, False, f"failed: {exc}", key, verified=True)
        except Exception as exc:
            log.exception(kv("command_crashed", device=cmd.device, id=cmd.id))
            reply = self._reply(
                cmd, False, f"internal_error: {type(exc).__name__}: {exc}", key, verified=True
            )
        log.info(
            kv(
                "command_done",
                device=cmd.device,
                id=cmd.id,
                ok=reply.ok,
                reason=reply.reason,
                operator=cmd.operator,
            )
        )
        return reply

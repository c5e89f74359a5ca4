"""The audit trail of operator commands: one ``command`` point per command sent by this gateway
and one per reply an agent gave (executed, refused or failed), in the time-series store.

Tags: ``site``, ``device``, ``id`` (the command id: every command is its own series, so two at
the same millisecond never overwrite each other), ``result`` (``sent``, ``ok``, ``refused`` or
``failed``). Fields: ``point``, ``port``, ``value``, ``operator``, ``nonce``, ``key``, ``reason``
(the refusal code and detail), ``verified`` (whether the agent found the signature good: an
unverified operator name is only what the sender claimed).
"""

from __future__ import annotations

from chargewatch import topics
from chargewatch.errors import MessageError
from chargewatch.messages import Command, CommandReply, decode_message
from gateway.lineproto import line, ts_ms

MEASUREMENT = "command"
AUDIT_FIELDS = ("point", "port", "value", "operator", "nonce", "key", "reason", "verified")
#: reply reasons of a command the agent executed but the device did not carry out
_FAILED = ("failed", "write failed", "timeout", "internal_error")


def result_of(reply: CommandReply) -> str:
    """``ok``, ``failed`` (executed, did not work) or ``refused`` (not executed)."""
    if reply.ok:
        return "ok"
    return "failed" if reply.reason.startswith(_FAILED) else "refused"


def sent_line(cmd: Command, key: str, site: str) -> str:
    """The point of a command this gateway signed and published."""
    fields: dict[str, str | float | bool | None] = {
        "point": cmd.point,
        "port": None if cmd.port is None else float(cmd.port),
        "value": cmd.value,
        "operator": cmd.operator,
        "nonce": cmd.nonce,
        "key": key,
        "verified": True,
    }
    tags = {"site": site, "device": cmd.device, "id": cmd.id, "result": "sent"}
    return line(MEASUREMENT, tags, fields, ts_ms(cmd.issued))


def reply_line(reply: CommandReply, site: str, received: float) -> str:
    """The point of one agent reply (timestamped by the agent, or ``received`` if it sent none)."""
    fields: dict[str, str | float | bool | None] = {
        "point": reply.point or None,
        "port": None if reply.port is None else float(reply.port),
        "value": reply.value,
        "operator": reply.operator or None,
        "nonce": reply.nonce or None,
        "key": reply.key or None,
        "reason": reply.reason or None,
        "verified": reply.verified,
    }
    tags = {"site": site, "device": reply.device, "id": reply.id, "result": result_of(reply)}
    return line(MEASUREMENT, tags, fields, ts_ms(reply.ts or received))


def decode_reply(topic: str, payload: bytes) -> CommandReply:
    """The CommandReply on ``topic``; MessageError if it is none or names another device."""
    reply = decode_message(payload)
    if not isinstance(reply, CommandReply):
        raise MessageError("not_a_reply", f"a {type(reply).__name__} on {topic}")
    if topic != topics.device_topic(reply.device, topics.CMD_REPLY):
        raise MessageError("device_mismatch", f"reply for {reply.device!r} on {topic}")
    return reply

"""Operator commands from the gateway side: sign and send (:class:`CommandSender`), and keep the
audit trail of every command sent and every reply an agent gave (:mod:`gateway.commands.audit`)."""

from gateway.commands.audit import AUDIT_FIELDS, decode_reply, reply_line, result_of, sent_line
from gateway.commands.sender import CommandSender, load_sender

__all__ = [
    "AUDIT_FIELDS",
    "CommandSender",
    "decode_reply",
    "load_sender",
    "reply_line",
    "result_of",
    "sent_line",
]

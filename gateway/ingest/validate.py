"""Validation of one incoming device message: topic, size, schema, identity, time.

:func:`check` returns the decoded message or raises :class:`RejectedError` whose ``reason`` is a
short code (``malformed``, ``schema``, ``too_large``, ``non_finite``, ``bad_topic``,
``identity``, ``future_ts``, ``too_old``). ``ackable`` tells the pipeline whether the sender
may be told to delete it: policy rejections of a well-formed message from the right device are
acknowledged (the dead-letter record keeps it); a spoofed identity never is.
"""

from __future__ import annotations

from dataclasses import dataclass

from chargewatch import topics
from chargewatch.errors import MessageError
from chargewatch.messages import DeviceMessage, Event, Telemetry, decode_device_message


class RejectedError(MessageError):
    """A message the gateway will not store; kept as a dead letter with ``reason``."""

    def __init__(
        self, reason: str, detail: str, msg: DeviceMessage | None = None, ackable: bool = False
    ) -> None:
        super().__init__(reason, detail)
        self.msg = msg
        self.ackable = ackable


@dataclass(frozen=True)
class TimePolicy:
    max_future_skew: float
    retention: float


_LEAVES = {topics.TELEMETRY: Telemetry, topics.EVENT: Event}


def check(topic: str, payload: bytes, now: float, policy: TimePolicy) -> DeviceMessage:
    """The validated message of ``payload`` received on ``topic`` at ``now``; RejectedError says why not."""
    try:
        device, leaf = topics.parse_device_topic(topic)
    except ValueError as exc:
        raise RejectedError("bad_topic", str(exc)) from exc
    kind = _LEAVES.get(leaf)
    if kind is None:
        raise RejectedError("bad_topic", f"leaf {leaf!r} is not telemetry or event")
    try:
        msg = decode_device_message(payload)
    except MessageError as exc:
        raise RejectedError(exc.reason, exc.detail) from exc
    if not isinstance(msg, kind):
        raise RejectedError("schema", f"a {type(msg).__name__.lower()} message on the {leaf} topic", msg)
    if msg.device != device:
        raise RejectedError(
            "identity", f"payload device {msg.device!r} published on topic of {device!r}", msg
        )
    if msg.ts > now + policy.max_future_skew:
        raise RejectedError(
            "future_ts", f"ts {msg.ts:.3f} is {msg.ts - now:.0f} s ahead of the gateway", msg, True
        )
    if msg.ts < now - policy.retention:
        raise RejectedError("too_old", f"ts {msg.ts:.3f} is older than the retention", msg, True)
    return msg

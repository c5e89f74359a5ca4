"""Versioned MQTT message schema shared by the edge agent and the gateway.

Every device message carries ``device``, ``boot`` (persisted, increments per agent start),
``seq`` (per device and boot, monotonic) and ``ts`` (source timestamp in seconds since the
epoch, never going backwards per device). Numeric values are always floats; a value the
agent could not read plausibly is ``null`` with a reason in ``flags``.

Decoding goes through msgspec typed structs: unknown fields, wrong types and bad ids are
rejected in one pass. msgspec's JSON decoder already refuses ``NaN``/``Infinity`` literals
(malformed) and overflowing numbers such as ``1e999`` (schema), so decoded messages are always
finite; :func:`check_finite` guards messages built in code before they are sent.

Structure beyond the schema (what the gateway checks against the device's profile before
anything fans out into points, ``gateway.ingest.validate``): every ``ports`` column has one
value per port of the model; ``flags`` keys are ``name`` (a device point) or ``name[i]`` (port
``i`` of a per-port point, :data:`FLAG_KEY_PATTERN`) and their reasons are short codes
(:data:`FLAG_REASON_PATTERN`).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import msgspec

from chargewatch.errors import MessageError

SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

#: a flags key: a point name, with ``[port]`` (at most two digits: ports are 0..63) for per-port points
FLAG_KEY_PATTERN = r"^([a-z][a-z0-9_]{0,47})(?:\[(0|[1-9][0-9]?)\])?$"
#: a flags reason: a short code such as ``read_failed`` or ``out_of_range``
FLAG_REASON_PATTERN = r"^[A-Za-z0-9_.:/-]{1,64}$"

Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Boot = Annotated[int, msgspec.Meta(ge=0, le=2**31)]
Port = Annotated[int, msgspec.Meta(ge=0, le=63)]
Timestamp = Annotated[float, msgspec.Meta(ge=0)]
Value = float | None
#: bounds a decoded message cannot exceed whatever its profile says (the schema enforces them)
MAX_PORTS = 64
Column = Annotated[list[Value], msgspec.Meta(max_length=MAX_PORTS)]
FlagKey = Annotated[str, msgspec.Meta(pattern=FLAG_KEY_PATTERN)]
FlagReason = Annotated[str, msgspec.Meta(pattern=FLAG_REASON_PATTERN)]
EventText = Annotated[str, msgspec.Meta(max_length=1024)]
Operator = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[A-Za-z0-9_.@-]{0,64}$")]
Nonce = Annotated[str, msgspec.Meta(pattern=r"^([0-9a-f]{32})?$")]

#: canonical port state codes; vendor codes are mapped to these through the profile's labels
PORT_STATES: dict[str, int] = {"idle": 0, "charging": 1, "full": 2, "fault": 3, "stopped": 4}
PORT_STATE_NAMES: dict[int, str] = {v: k for k, v in PORT_STATES.items()}

EventKind = Literal[
    "session_start",
    "session_end",
    "interlock",
    "detection",
    "door_hold",
    "door_release",
    "remote_release",
    "device_fault",
    "device_down",
    "device_up",
    "alarm",
]


class Telemetry(msgspec.Struct, tag="telemetry", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """One poll of one device: per-port values as columns, device values by name."""

    v: Literal[1] = 1
    device: Id
    boot: Boot
    seq: Seq
    ts: Timestamp
    model: Id
    ports: Annotated[dict[Name, Column], msgspec.Meta(max_length=64)] = msgspec.field(default_factory=dict)
    values: Annotated[dict[Name, Value], msgspec.Meta(max_length=256)] = msgspec.field(default_factory=dict)
    flags: Annotated[dict[FlagKey, FlagReason], msgspec.Meta(max_length=4096)] = msgspec.field(
        default_factory=dict
    )


class Event(msgspec.Struct, tag="event", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """Something that happened once: a session boundary, an interlock trip, a detection."""

    v: Literal[1] = 1
    device: Id
    boot: Boot
    seq: Seq
    ts: Timestamp
    kind: EventKind
    port: Port | None = None
    data: Annotated[dict[Name, float | EventText | bool | None], msgspec.Meta(max_length=64)] = msgspec.field(
        default_factory=dict
    )


class Status(msgspec.Struct, tag="status", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """Retained agent status; the same shape with ``online=False`` is the last will."""

    v: Literal[1] = 1
    agent: Id
    online: bool
    boot: Boot
    ts: Timestamp
    version: str = ""
    devices: list[Id] = msgspec.field(default_factory=list)
    health: dict[Name, float] = msgspec.field(default_factory=dict)


class AckRange(msgspec.Struct, array_like=True, frozen=True):
    """Inclusive seq range ``[lo, hi]``."""

    lo: Seq
    hi: Seq


class Ack(msgspec.Struct, tag="ack", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """Gateway → agent: these seqs of (device, boot) are durably stored and may be deleted."""

    v: Literal[1] = 1
    device: Id
    boot: Boot
    ranges: list[AckRange]


class Command(msgspec.Struct, tag="command", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """Operator → agent: write one writable point (``port`` for per-port points).

    On the wire a command only counts inside a :class:`SignedCommand` (see
    :mod:`chargewatch.signing`): ``operator``, ``nonce``, ``issued`` and ``expires`` are then
    covered by the signature, and agents refuse a command without them.
    """

    v: Literal[1] = 1
    id: Id
    device: Id
    point: Name
    value: float
    port: Port | None = None
    operator: Operator = ""
    nonce: Nonce = ""
    issued: Timestamp = 0.0
    expires: Timestamp = 0.0


class SignedCommand(
    msgspec.Struct, tag="signed_command", tag_field="type", forbid_unknown_fields=True, kw_only=True
):
    """A :class:`Command` signed with Ed25519: ``payload`` is base64 of the command's exact JSON
    bytes, ``sig`` base64 of the signature over ``chargewatch.signing.DOMAIN + those bytes``."""

    v: Literal[1] = 1
    key: Id
    payload: Annotated[str, msgspec.Meta(max_length=8192)]
    sig: Annotated[str, msgspec.Meta(max_length=128)]


class CommandReply(
    msgspec.Struct, tag="command_reply", tag_field="type", forbid_unknown_fields=True, kw_only=True
):
    """Agent → operator: the outcome of one command, echoing what was asked and by whom.

    ``reason`` starts with a code (``unsigned``, ``bad_signature``, ``expired``, ``replayed``,
    ``not_allowed``...) when ``ok`` is false. The echoed fields come from the command as
    received; ``verified`` says whether its signature checked out.
    """

    v: Literal[1] = 1
    id: Id
    device: Id
    ok: bool
    reason: str = ""
    ts: Timestamp = 0.0
    point: Annotated[str, msgspec.Meta(max_length=48)] = ""
    port: Port | None = None
    value: float | None = None
    operator: Operator = ""
    nonce: Nonce = ""
    key: Annotated[str, msgspec.Meta(max_length=64)] = ""
    verified: bool = False


class Alert(msgspec.Struct, tag="alert", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """Gateway → dashboards: one alert state change."""

    v: Literal[1] = 1
    id: str
    device: Id
    kind: str
    severity: Literal["info", "warning", "critical"]
    state: Literal["pending", "firing", "resolved"]
    ts: Timestamp
    port: Port | None = None
    message: str = ""
    evidence: list[dict[str, float | str | None]] = msgspec.field(default_factory=list)


DeviceMessage = Telemetry | Event
AnyMessage = Telemetry | Event | Status | Ack | Command | SignedCommand | CommandReply | Alert

_device_decoder = msgspec.json.Decoder(DeviceMessage)
_any_decoder = msgspec.json.Decoder(AnyMessage)
_encoder = msgspec.json.Encoder()


def encode(msg: AnyMessage) -> bytes:
    """Compact JSON bytes of a message."""
    return _encoder.encode(msg)


def _finite(x: object) -> bool:
    return not (isinstance(x, float) and not math.isfinite(x))


def check_finite(msg: AnyMessage) -> None:
    """Raise MessageError(``non_finite``) if any numeric value is NaN or ±Inf."""
    if isinstance(msg, Telemetry):
        for name, col in msg.ports.items():
            if not all(map(_finite, col)):
                raise MessageError("non_finite", f"ports.{name} holds NaN or Inf")
        for name, val in msg.values.items():
            if not _finite(val):
                raise MessageError("non_finite", f"values.{name} is NaN or Inf")
    elif isinstance(msg, Event):
        for name, item in msg.data.items():
            if not _finite(item):
                raise MessageError("non_finite", f"data.{name} is NaN or Inf")
    elif isinstance(msg, Command) and not math.isfinite(msg.value):
        raise MessageError("non_finite", "value is NaN or Inf")


def _decode(
    raw: bytes,
    decoder: msgspec.json.Decoder[DeviceMessage] | msgspec.json.Decoder[AnyMessage],
) -> DeviceMessage | AnyMessage:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageError("too_large", f"{len(raw)} bytes > {MAX_MESSAGE_BYTES}")
    try:
        msg = decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise MessageError("schema", str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise MessageError("malformed", str(exc)) from exc
    return msg


def decode_device_message(raw: bytes) -> DeviceMessage:
    """Decode and validate a telemetry or event payload; MessageError says why not."""
    msg = _decode(raw, _device_decoder)
    assert isinstance(msg, Telemetry | Event)
    return msg


def decode_message(raw: bytes) -> AnyMessage:
    """Decode and validate any ChargeWatch message; MessageError says why not."""
    return _decode(raw, _any_decoder)

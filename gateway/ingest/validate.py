"""Validation of one incoming device message: topic, size, schema, identity, time, profile shape.

:func:`check` returns the decoded message or raises :class:`RejectedError` whose ``reason`` is a
short code (``malformed``, ``schema``, ``too_large``, ``non_finite``, ``bad_topic``,
``identity``, ``future_ts``, ``too_old``). :class:`Validator` adds the checks against the
device's profile (:func:`chargewatch.profiles.find_profile` of the message's ``model``), run
before anything fans out into points:

* ``unknown_model`` — no profile for the model;
* ``ragged_columns`` — the ``ports`` columns differ in length;
* ``port_count`` — the columns are not one value per port of the model;
* ``unknown_point`` — a column, value or flag names no point of the model (or a port beyond it);
* ``impossible_value`` — a value no register of that point can produce (outside what its type,
  scale and offset represent). The profile's plausible ``range`` is *not* enforced here: the
  agent turns implausible readings into ``null`` + flag, the analytics judge sensors; the
  gateway only refuses what is structurally impossible;
* ``bad_port`` — an event's ``port`` beyond the port count of its device's model (when the
  gateway has seen the device's telemetry).

``ackable`` tells the pipeline whether the sender may be told to delete it: the time-policy
rejections of a well-formed message from the right device are acknowledged (the dead-letter
record keeps it); a spoofed identity never is, nor any profile-shape rejection: a real agent
builds its columns from the same profile, so a mismatch is either a profile the gateway lacks
or disagrees with (the agent keeps the data and re-sends it until the profiles agree: nothing is
lost) or a forgery, whose (device, boot, seq) must never ack a real agent's pending message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from chargewatch import topics
from chargewatch.errors import ConfigError, MessageError
from chargewatch.logs import kv
from chargewatch.messages import PORT_STATES, DeviceMessage, Event, Telemetry, decode_device_message
from chargewatch.profiles import DeviceKind, DeviceProfile, Point, find_profile

log = logging.getLogger(__name__)


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
    #: readings older than this on arrival are stored but never open, re-fire or resolve an alert
    stale_after: float = 300.0


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


_RAW_RANGE = {
    "bool": (0.0, 1.0),
    "u16": (0.0, 65535.0),
    "i16": (-32768.0, 32767.0),
    "u32": (0.0, 4294967295.0),
    "i32": (-2147483648.0, 2147483647.0),
    "f32": (-3.4028234663852886e38, 3.4028234663852886e38),
}


def register_bounds(point: Point) -> tuple[float, float]:
    """The engineering values a register of ``point`` can represent (a little slack for rounding)."""
    if point.name == "state" and point.values is not None:
        low, high = 0.0, float(max(PORT_STATES.values()))  # the agent maps vendor codes to these
    else:
        raw_lo, raw_hi = _RAW_RANGE[point.type]
        ends = (raw_lo * point.scale + point.offset, raw_hi * point.scale + point.offset)
        low, high = min(ends), max(ends)
    slack = 1e-6 * max(abs(low), abs(high), 1.0)
    return low - slack, high + slack


@dataclass(frozen=True, slots=True)
class Shape:
    """What a model's telemetry may hold, from its profile (built once per model)."""

    model: str
    kind: DeviceKind
    ports: int
    port_bounds: dict[str, tuple[float, float]]
    device_bounds: dict[str, tuple[float, float]]
    flag_keys: frozenset[str]

    @classmethod
    def of(cls, profile: DeviceProfile) -> Shape:
        port_points = profile.port_points
        keys = {f"{p.name}[{i}]" for p in port_points for i in range(profile.ports)}
        keys |= {p.name for p in profile.device_points}
        return cls(
            model=profile.model,
            kind=profile.kind,
            ports=profile.ports,
            port_bounds={p.name: register_bounds(p) for p in port_points},
            device_bounds={p.name: register_bounds(p) for p in profile.device_points},
            flag_keys=frozenset(keys),
        )


def _outside(values: Sequence[float | None], bounds: tuple[float, float]) -> float | None:
    """The first value outside ``bounds`` (None when every value is inside or null)."""
    low, high = bounds
    try:
        if low <= min(cast(list[float], values)) and max(cast(list[float], values)) <= high:
            return None
    except TypeError:  # nulls in the column: the slow path
        pass
    return next((v for v in values if v is not None and not low <= v <= high), None)


class Validator:
    """:func:`check` plus the profile checks; caches one :class:`Shape` per model it has seen."""

    MAX_MODELS = 1024  # distinct model names remembered (known or not); beyond, the cache restarts

    def __init__(self, policy: TimePolicy, search: Sequence[Path] = ()) -> None:
        self.policy = policy
        self.search = tuple(search)
        self._shapes: dict[str, Shape | None] = {}
        self._device_ports: dict[str, int] = {}

    def shape(self, model: str) -> Shape | None:
        """The shape of ``model`` (None when no profile describes it; logged once per model)."""
        try:
            return self._shapes[model]
        except KeyError:
            pass
        if len(self._shapes) >= self.MAX_MODELS:
            self._shapes.clear()
        shape: Shape | None
        try:
            shape = Shape.of(find_profile(model, self.search))
        except ConfigError as exc:
            log.warning(kv("unknown_model", model=model, error=exc))
            shape = None
        self._shapes[model] = shape
        return shape

    def check(self, topic: str, payload: bytes, now: float) -> DeviceMessage:
        """The validated message (schema, identity, time, profile shape); RejectedError says why not."""
        msg = check(topic, payload, now, self.policy)
        if isinstance(msg, Telemetry):
            shape = self.shape(msg.model)
            if shape is None:
                raise RejectedError("unknown_model", f"no device profile for model {msg.model!r}", msg)
            _check_telemetry(msg, shape)
            self._device_ports[msg.device] = shape.ports
        elif msg.port is not None:
            ports = self._device_ports.get(msg.device)
            if ports is not None and msg.port >= ports:
                raise RejectedError(
                    "bad_port", f"event {msg.kind} on port {msg.port}; the device has {ports} ports", msg
                )
        return msg


def _check_telemetry(msg: Telemetry, shape: Shape) -> None:
    """RejectedError unless ``msg`` fits ``shape`` (columns, names, register ranges, flags)."""
    n = shape.ports
    for name, column in msg.ports.items():
        bounds = shape.port_bounds.get(name)
        if bounds is None:
            raise RejectedError("unknown_point", f"ports.{name} is no per-port point of {shape.model}", msg)
        if len(column) != n:
            lengths = {k: len(c) for k, c in msg.ports.items()}
            if len(set(lengths.values())) > 1:
                raise RejectedError("ragged_columns", f"ports columns differ in length: {lengths}", msg)
            raise RejectedError(
                "port_count", f"ports.{name} has {len(column)} values; {shape.model} has {n} ports", msg
            )
        bad = _outside(column, bounds)
        if bad is not None:
            raise RejectedError(
                "impossible_value", f"ports.{name} holds {bad!r}, beyond what its register represents", msg
            )
    for name, value in msg.values.items():
        bounds = shape.device_bounds.get(name)
        if bounds is None:
            raise RejectedError("unknown_point", f"values.{name} is no device point of {shape.model}", msg)
        if value is not None and not bounds[0] <= value <= bounds[1]:
            raise RejectedError(
                "impossible_value", f"values.{name} is {value!r}, beyond what its register represents", msg
            )
    if msg.flags and not shape.flag_keys.issuperset(msg.flags):
        key = next(k for k in msg.flags if k not in shape.flag_keys)
        raise RejectedError("unknown_point", f"flags key {key!r} names no reading of {shape.model}", msg)

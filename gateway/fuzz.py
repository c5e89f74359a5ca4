"""Hostile-input generators for the ingest path (property tests and ``chargewatch bench fuzz``).

:class:`Fuzzer` makes (topic, payload) pairs from a seeded :class:`random.Random`: well-formed
telemetry and events of the bundled device profiles, and every class of poison issue 8 named —
ragged columns, port counts that differ from the profile, 30,000-port columns, unbounded flag
keys, unknown points and models, extreme and non-finite numbers, wrong types, deep nesting,
byte-level damage, spoofed topics, old and future timestamps, events on ports the device lacks.
The property tests draw the seed and the kinds with Hypothesis; the benchmark draws them from
one seeded generator, so a failure in either replays from its seed.

The fuzzer remembers a seq per device so well-formed messages are new (accepted) and a few are
deliberate re-sends (duplicates). Pure generation: no I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any

from chargewatch import topics
from chargewatch.messages import PORT_STATES
from chargewatch.profiles import DeviceProfile, Point, find_profile
from gateway.ingest.validate import register_bounds

MODELS = ("cw-pile-10", "vx-pile-12", "cw-blocker")
DEVICES_PER_MODEL = 4
_KINDS_OF_EVENTS = ("session_start", "session_end", "interlock", "device_fault", "device_down", "device_up")
_WEIRD_FLOATS = (1e308, -1e308, 5e-324, 3.5e38, -3.5e38, 1e16, 0.0, -0.0, 65536.0, 4294967296.0)
_WEIRD_NUMBERS = (b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1" * 400, b"0x10", b"1e-999")
_WEIRD_VALUES: tuple[Any, ...] = ("30.0", True, None, [], {}, [1.0], {"a": 1}, "", "x" * 300, -1, 2**70)
Message = dict[str, Any]
_NESTED = re.compile(rb'"@@nested:(\d+)@@"')


def _value(point: Point, rng: random.Random) -> float:
    if point.name == "state":
        return float(rng.choice(list(PORT_STATES.values())))
    if point.type == "bool":
        return float(rng.random() < 0.2)
    if point.range is not None:
        low, high = point.range
    else:
        low, high = register_bounds(point)
        low, high = max(low, -1000.0), min(high, 1000.0)
    return min(max(round(rng.uniform(low, high), 2), low), high)


class Fuzzer:
    """Seeded generator of device messages, good and hostile, over the bundled profiles."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.profiles: dict[str, DeviceProfile] = {m: find_profile(m) for m in MODELS}
        self.seqs: dict[str, int] = {}
        self.kinds: dict[str, Callable[[random.Random], tuple[str, bytes]]] = {
            "good": self.good,
            "good_event": self.good_event,
            "duplicate": self.duplicate,
            "stale": self.stale,
            "ragged": self._structured(self._ragged),
            "port_count": self._structured(self._port_count),
            "huge_ports": self._structured(self._huge_ports),
            "flag_key": self._structured(self._flag_key),
            "unknown_point": self._structured(self._unknown_point),
            "unknown_model": self._structured(self._unknown_model),
            "extreme_value": self._structured(self._extreme_value),
            "wrong_type": self._structured(self._wrong_type),
            "nested": self._structured(self._nested),
            "time": self._structured(self._time),
            "identity": self.identity,
            "event_port": self.event_port,
            "number_text": self.number_text,
            "bytes": self.damaged,
        }

    # -- well-formed ------------------------------------------------------------------------------
    def _device(self, rng: random.Random) -> tuple[str, DeviceProfile]:
        model = rng.choice(MODELS)
        return f"fz-{model}-{rng.randrange(DEVICES_PER_MODEL)}", self.profiles[model]

    def _seq(self, device: str) -> int:
        seq = self.seqs.get(device, 0)
        self.seqs[device] = seq + 1
        return seq

    def telemetry(self, rng: random.Random, age: float = 5.0) -> Message:
        """A well-formed telemetry message (a few readings null with their flag)."""
        device, profile = self._device(rng)
        ports: dict[str, list[float | None]] = {}
        values: dict[str, float | None] = {}
        flags: dict[str, str] = {}
        for p in profile.port_points:
            if rng.random() < 0.7:
                col: list[float | None] = [_value(p, rng) for _ in range(profile.ports)]
                for i in range(profile.ports):
                    if rng.random() < 0.03:
                        col[i] = None
                        flags[f"{p.name}[{i}]"] = "read_failed"
                ports[p.name] = col
        for p in profile.device_points:
            if rng.random() < 0.7:
                values[p.name] = _value(p, rng)
        seq = self._seq(device)
        return {
            "type": "telemetry",
            "device": device,
            "boot": 1,
            "seq": seq,
            "ts": self.now - age - rng.random(),
            "model": profile.model,
            "ports": ports,
            "values": values,
            "flags": flags,
        }

    def event(self, rng: random.Random) -> Message:
        device, profile = self._device(rng)
        port = rng.randrange(profile.ports) if profile.ports and rng.random() < 0.7 else None
        data = {"reason": rng.choice(["ok", "stopped", "full"]), "energy": round(rng.random() * 9, 3)}
        return {
            "type": "event",
            "device": device,
            "boot": 1,
            "seq": self._seq(device),
            "ts": self.now - 5.0 - rng.random(),
            "kind": rng.choice(_KINDS_OF_EVENTS),
            "port": port,
            "data": data,
        }

    @staticmethod
    def pack(msg: Message, leaf: str = topics.TELEMETRY, device: str = "") -> tuple[str, bytes]:
        """Topic of ``device`` (default: the message's own) and the JSON payload of ``msg``."""
        payload = json.dumps(msg).encode()
        found = _NESTED.search(payload)
        if found is not None:
            depth = int(found.group(1))
            inner = b'[{"a":' * (depth // 2) + b"1" + b"}]" * (depth // 2)
            payload = payload[: found.start()] + inner + payload[found.end() :]
        return topics.device_topic(device or str(msg["device"]), leaf), payload

    def good(self, rng: random.Random) -> tuple[str, bytes]:
        return self.pack(self.telemetry(rng))

    def good_event(self, rng: random.Random) -> tuple[str, bytes]:
        return self.pack(self.event(rng), topics.EVENT)

    def duplicate(self, rng: random.Random) -> tuple[str, bytes]:
        msg = self.telemetry(rng)
        msg["seq"] = max(0, msg["seq"] - rng.randrange(1, 4))
        return self.pack(msg)

    def stale(self, rng: random.Random) -> tuple[str, bytes]:
        return self.pack(self.telemetry(rng, age=rng.uniform(600.0, 7200.0)))

    # -- hostile structure ------------------------------------------------------------------------
    def _structured(
        self, mutate: Callable[[Message, random.Random], None]
    ) -> Callable[..., tuple[str, bytes]]:
        def make(rng: random.Random) -> tuple[str, bytes]:
            msg = self.telemetry(rng)
            device = msg["device"]
            mutate(msg, rng)
            return self.pack(msg, device=device)

        return make

    @staticmethod
    def _ragged(msg: Message, rng: random.Random) -> None:
        ports = msg["ports"] or {"socket_temp": [30.0] * 10}
        name = rng.choice(sorted(ports))
        col = ports[name]
        if col and rng.random() < 0.5:
            col.pop(rng.randrange(len(col)))
        else:
            col.append(30.0)
        msg["ports"] = ports

    @staticmethod
    def _port_count(msg: Message, rng: random.Random) -> None:
        n = rng.choice([0, 1, 9, 11, 12, 63, 64, 65, 100])
        msg["ports"] = {name: [30.0] * n for name in (msg["ports"] or {"socket_temp": []})}

    @staticmethod
    def _huge_ports(msg: Message, rng: random.Random) -> None:
        n = rng.choice([1000, 5000, 30_000])
        msg["ports"] = {"socket_temp": [1] * n}

    @staticmethod
    def _flag_key(msg: Message, rng: random.Random) -> None:
        key = rng.choice(
            [
                "socket_temp[" + "9" * rng.randrange(3, 4400) + "]",
                "socket_temp[-1]",
                "socket_temp[64]",
                "socket_temp[07]",
                "Socket_Temp[1]",
                "socket_temp[1",
                "socket temp[1]",
                "x" * rng.randrange(40, 300),
                "",
                "socket_temp[1][2]",
                "nope[3]",
            ]
        )
        reason = rng.choice(["read_failed", "", "a;b", "x" * 200, "new\nline"])
        msg["flags"] = {**msg["flags"], key: reason}

    @staticmethod
    def _unknown_point(msg: Message, rng: random.Random) -> None:
        if rng.random() < 0.5:
            msg["ports"]["zz_" + str(rng.randrange(1000))] = [1.0] * 10
        else:
            msg["values"]["zz_" + str(rng.randrange(1000))] = 1.0

    @staticmethod
    def _unknown_model(msg: Message, rng: random.Random) -> None:
        msg["model"] = rng.choice(["cw-pile-99", "x", "../../etc/passwd", "a" * 64, "CW-PILE-10"])

    @staticmethod
    def _extreme_value(msg: Message, rng: random.Random) -> None:
        value = rng.choice(_WEIRD_FLOATS)
        cols = [c for c in msg["ports"].values() if c]
        if cols and rng.random() < 0.7:
            col = rng.choice(cols)
            col[rng.randrange(len(col))] = value
        else:
            msg["values"]["ambient_temp"] = value

    @staticmethod
    def _wrong_type(msg: Message, rng: random.Random) -> None:
        key = rng.choice(["device", "boot", "seq", "ts", "model", "ports", "values", "flags", "type", "v"])
        bad = rng.choice(_WEIRD_VALUES)
        if key == "ports" and msg["ports"] and rng.random() < 0.5:
            col = msg["ports"][rng.choice(sorted(msg["ports"]))]
            if col:
                col[rng.randrange(len(col))] = bad
                return
        msg[key] = bad

    @staticmethod
    def _nested(msg: Message, rng: random.Random) -> None:
        """A marker that :meth:`pack` replaces with ``depth`` levels of lists and objects (as
        text: a nested structure that deep would overflow the encoder's recursion)."""
        msg[rng.choice(["ports", "values", "flags", "extra"])] = (
            f"@@nested:{rng.choice([10, 1000, 30_000])}@@"
        )

    @staticmethod
    def _time(msg: Message, rng: random.Random) -> None:
        key = rng.choice(["ts", "ts", "seq", "boot"])
        msg[key] = rng.choice([0, -1, 1.0, 1e12, 1e300, 2**53 + 1, 2**31 + 1, msg["ts"] - 86400 * 500])

    def identity(self, rng: random.Random) -> tuple[str, bytes]:
        msg = self.telemetry(rng)
        topic = rng.choice(
            [
                topics.device_topic("someone-else", topics.TELEMETRY),
                f"cw/v1/dev/{msg['device']}/nope",
                "cw/v1/dev//telemetry",
                "cw/v1/dev/a+b/telemetry",
                topics.device_topic(str(msg["device"]), topics.EVENT),
            ]
        )
        return topic, json.dumps(msg).encode()

    def event_port(self, rng: random.Random) -> tuple[str, bytes]:
        msg = self.event(rng)
        msg["port"] = rng.choice([12, 40, 63, 64, -1, 10_000])
        return self.pack(msg, topics.EVENT)

    def number_text(self, rng: random.Random) -> tuple[str, bytes]:
        topic, payload = self.good(rng)
        marker = b'"ts": '
        at = payload.find(marker)
        if rng.random() < 0.5 and b"[" in payload:
            at = payload.find(b"[")
            return topic, payload[: at + 1] + rng.choice(_WEIRD_NUMBERS) + b", " + payload[at + 1 :]
        end = payload.find(b",", at)
        return topic, payload[: at + len(marker)] + rng.choice(_WEIRD_NUMBERS) + payload[end:]

    def damaged(self, rng: random.Random) -> tuple[str, bytes]:
        topic, payload = self.good(rng)
        data = bytearray(payload)
        for _ in range(rng.randrange(1, 6)):
            if not data:
                data.append(ord("{"))
            op = rng.randrange(4)
            at = rng.randrange(len(data))
            if op == 0:
                data[at] = rng.randrange(256)
            elif op == 1:
                del data[at]
            elif op == 2:
                data.insert(at, rng.choice(b'{}[]",:\\0-e.'))
            else:
                del data[at:]
        return topic, bytes(data)

    # -- drivers ----------------------------------------------------------------------------------
    def make(self, kind: str, rng: random.Random) -> tuple[str, bytes]:
        """One (topic, payload) of ``kind`` (a key of :attr:`kinds`)."""
        return self.kinds[kind](rng)

    def any(self, rng: random.Random) -> tuple[str, bytes]:
        """One input of a random kind: half of them well-formed, like a busy but hostile wire."""
        if rng.random() < 0.5:
            return self.good(rng) if rng.random() < 0.8 else self.good_event(rng)
        return self.make(rng.choice(sorted(self.kinds)), rng)

"""Regression corpus: every poison message of issue 8, with the dead-letter reason it must get.

Each entry is (name, topic, payload, reason) for device ``device`` (a cw-pile-10, 10 ports).
Payloads are built as text where JSON encoders would refuse them (NaN, 1e999, deep nesting).
Entries that are policy rejections (acked to the sender) use seqs from ``far`` on, so their acks
never name a seq a real agent on the same device still holds.
"""

from __future__ import annotations

import json
from typing import Any

from chargewatch import topics

PORTS = 10
Poison = tuple[str, str, bytes, str]


def _tel(device: str, seq: int, ts: float, **over: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "type": "telemetry",
        "device": device,
        "boot": 1,
        "seq": seq,
        "ts": ts,
        "model": "cw-pile-10",
        "ports": {"socket_temp": [30.0] * PORTS, "current": [1.0] * PORTS},
        "values": {"ambient_temp": 25.0},
        "flags": {},
    }
    msg.update(over)
    return msg


def poisons(device: str, now: float, seq: int = 0, far: int = 1_000_000) -> list[Poison]:
    """The corpus for ``device`` at gateway time ``now``; structural ones use seqs from ``seq``."""
    tel = topics.device_topic(device, topics.TELEMETRY)
    evt = topics.device_topic(device, topics.EVENT)
    ts = now - 30.0
    seqs = iter(range(seq, seq + 100))

    def j(msg: dict[str, Any]) -> bytes:
        return json.dumps(msg).encode()

    def compact(**over: Any) -> bytes:
        return json.dumps(_tel(device, next(seqs), ts, **over), separators=(",", ":")).encode()

    def t(**over: Any) -> bytes:
        return j(_tel(device, next(seqs), ts, **over))

    good = t()
    nested = b'{"a":' * 20_000 + b"1" + b"}" * 20_000
    return [
        (
            "ragged columns",
            tel,
            t(ports={"socket_temp": [30.0] * PORTS, "current": [1.0] * (PORTS - 1)}),
            "ragged_columns",
        ),
        ("4,400-digit flag key", tel, t(flags={"socket_temp[" + "9" * 4400 + "]": "read_failed"}), "schema"),
        ("30,000 ports in 60 KB", tel, compact(ports={"socket_temp": [1] * 30_000}), "schema"),
        ("deeply nested", tel, good.replace(b'"flags": {}', b'"flags": ' + nested), "too_large"),
        (
            "nested under 64 KB",
            tel,
            t().replace(b'"flags": {}', b'"flags": ' + b"[" * 5000 + b"]" * 5000),
            "schema",
        ),
        ("NaN", tel, t().replace(b"30.0", b"NaN", 1), "malformed"),
        ("Infinity", tel, t().replace(b"30.0", b"Infinity", 1), "malformed"),
        ("1e999", tel, t().replace(b"30.0", b"1e999", 1), "schema"),
        (
            "seq as a string",
            tel,
            t().replace(b'"seq": ', b'"seq": "', 1).replace(b', "ts"', b'", "ts"', 1),
            "schema",
        ),
        ("column of strings", tel, t(ports={"socket_temp": ["hot"] * PORTS}), "schema"),
        ("values as a list", tel, t(values=[1.0, 2.0]), "schema"),
        ("unknown model", tel, t(model="cw-pile-99"), "unknown_model"),
        ("12 ports on a 10-port model", tel, t(ports={"socket_temp": [30.0] * 12}), "port_count"),
        (
            "unknown per-port point",
            tel,
            t(ports={"socket_temp": [30.0] * PORTS, "plasma": [1.0] * PORTS}),
            "unknown_point",
        ),
        ("unknown device point", tel, t(values={"warp_core": 1.0}), "unknown_point"),
        (
            "flag on a port beyond the model",
            tel,
            t(flags={"socket_temp[12]": "read_failed"}),
            "unknown_point",
        ),
        ("flag reason with a newline", tel, t(flags={"socket_temp[1]": "a\nb"}), "schema"),
        ("temperature no register holds", tel, t(ports={"socket_temp": [1e9] * PORTS}), "impossible_value"),
        ("1e308 ambient", tel, t(values={"ambient_temp": 1e308}), "impossible_value"),
        ("spoofed device", topics.device_topic("someone-else", topics.TELEMETRY), t(), "identity"),
        ("telemetry on the event topic", evt, t(), "schema"),
        ("not JSON", tel, b"{not json", "malformed"),
        ("too large", tel, b'{"type":"telemetry","pad":"' + b"x" * 70_000 + b'"}', "too_large"),
        ("older than the retention", tel, j(_tel(device, far, now - 500 * 86400.0)), "too_old"),
        ("from the future", tel, j(_tel(device, far + 1, now + 86400.0)), "future_ts"),
        (
            "event on port 40 of a 10-port pile",
            evt,
            j(
                {
                    "type": "event",
                    "device": device,
                    "boot": 1,
                    "seq": next(seqs),
                    "ts": ts,
                    "kind": "interlock",
                    "port": 40,
                }
            ),
            "bad_port",
        ),
        (
            "event with 1,000 data keys",
            evt,
            j(
                {
                    "type": "event",
                    "device": device,
                    "boot": 1,
                    "seq": next(seqs),
                    "ts": ts,
                    "kind": "alarm",
                    "data": {f"k{i}": 1.0 for i in range(1000)},
                }
            ),
            "schema",
        ),
    ]

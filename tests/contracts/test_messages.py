from __future__ import annotations

import pytest

from chargewatch import MessageError
from chargewatch.messages import (
    MAX_MESSAGE_BYTES,
    Ack,
    AckRange,
    Event,
    Telemetry,
    check_finite,
    decode_device_message,
    decode_message,
    encode,
)
from chargewatch.topics import agent_status_topic, device_topic, parse_agent_topic, parse_device_topic


def test_telemetry_round_trip() -> None:
    msg = Telemetry(
        device="pile-1",
        boot=3,
        seq=7,
        ts=1.75e9,
        model="cw-pile-10",
        ports={"current": [1.0, None]},
        values={"ambient_temp": 30.5},
        flags={"current[1]": "out_of_range"},
    )
    assert decode_device_message(encode(msg)) == msg


def test_ack_round_trip() -> None:
    ack = Ack(device="pile-1", boot=2, ranges=[AckRange(1, 5), AckRange(9, 9)])
    assert decode_message(encode(ack)) == ack


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed"),
        (b'{"type":"telemetry","device":"p","boot":1,"seq":"x","ts":1,"model":"m"}', "schema"),
        (b'{"type":"telemetry","device":"p;DROP","boot":1,"seq":1,"ts":1,"model":"m"}', "schema"),
        (b'{"type":"telemetry","device":"p","boot":1,"seq":-1,"ts":1,"model":"m"}', "schema"),
        (b'{"type":"event","device":"p","boot":1,"seq":1,"ts":1,"kind":"nope"}', "schema"),
        (b'{"type":"telemetry","device":"p","boot":1,"seq":1,"ts":1,"model":"m","extra":1}', "schema"),
        (
            b'{"type":"telemetry","device":"p","boot":1,"seq":1,"ts":1,"model":"m","values":{"a":1e999}}',
            "schema",
        ),
        (
            b'{"type":"telemetry","device":"p","boot":1,"seq":1,"ts":1,"model":"m","values":{"a":NaN}}',
            "malformed",
        ),
        (b" " * (MAX_MESSAGE_BYTES + 1), "too_large"),
    ],
)
def test_bad_messages_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MessageError) as info:
        decode_device_message(raw)
    assert info.value.reason == reason


def test_check_finite_catches_nan_built_in_code() -> None:
    msg = Telemetry(device="p", boot=1, seq=1, ts=1.0, model="m", ports={"power": [1.0, float("nan")]})
    with pytest.raises(MessageError, match=r"ports\.power"):
        check_finite(msg)


def test_ints_arrive_as_floats() -> None:
    msg = decode_device_message(b'{"type":"event","device":"p","boot":1,"seq":1,"ts":5,"kind":"alarm"}')
    assert isinstance(msg, Event)
    assert isinstance(msg.ts, float)


def test_topics() -> None:
    assert parse_device_topic(device_topic("pile-1", "cmd/reply")) == ("pile-1", "cmd/reply")
    assert parse_agent_topic(agent_status_topic("a1")) == "a1"
    with pytest.raises(ValueError, match="does not match"):
        device_topic("bad/id", "telemetry")
    with pytest.raises(ValueError, match="not a ChargeWatch device topic"):
        parse_device_topic("other/v1/dev/x/telemetry")

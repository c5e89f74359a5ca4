"""Line protocol building: escaping, layout, and its cost per point (printed, never asserted)."""

from __future__ import annotations

import time

import pytest
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from chargewatch.messages import Event, Telemetry
from chargewatch.profiles import PROFILE_DIR, load_profile
from gateway.lineproto import LineProtocolError, event_lines, line, resolution, telemetry_lines, ts_ms
from gateway.store._lineparse import parse_line


def _telemetry(ports: int = 10) -> Telemetry:
    return Telemetry(
        device="pile-1",
        boot=3,
        seq=42,
        ts=1_750_000_000.123,
        model="cw-pile-10",
        ports={
            "voltage": [230.1 + i for i in range(ports)],
            "current": [None if i == 1 else 1.5 * i for i in range(ports)],
            "power": [345.0 + i for i in range(ports)],
            "energy": [1.25 * i for i in range(ports)],
            "temp": [31.5 + i for i in range(ports)],
        },
        values={"ambient_temp": 30.0, "smoke": None, "total_power": 3450.0},
        flags={"current[1]": "out_of_range", "smoke": "sensor_fault"},
    )


def test_generic_line_escapes_and_sorts_tags() -> None:
    text = line("a b,c", {"z": "1", "t k": 'v=w,x "q"'}, {"f g": 1, "s": 'say "hi" \\o/', "ok": True}, 5)
    assert text == 'a\\ b\\,c,t\\ k=v\\=w\\,x\\ "q",z=1 f\\ g=1.0,s="say \\"hi\\" \\\\o/",ok=true 5'
    parsed = parse_line(text)
    assert parsed.measurement == "a b,c"
    assert parsed.tags == {"t k": 'v=w,x "q"', "z": "1"}
    assert parsed.fields == {"f g": 1.0, "s": 'say "hi" \\o/', "ok": True}


@pytest.mark.parametrize(
    ("measurement", "tags"),
    [("m", {"t": "a\nb"}), ("m\n", {}), ("m", {"t\r": "x"}), ("m", {"t": "ends\\"}), ("m", {"t": ""})],
)
def test_names_that_line_protocol_cannot_carry_are_rejected(measurement: str, tags: dict[str, str]) -> None:
    with pytest.raises(LineProtocolError):
        line(measurement, tags, {"f": 1.0}, 1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_fields_are_rejected(bad: float) -> None:
    with pytest.raises(LineProtocolError, match="not finite"):
        line("m", {}, {"f": bad}, 1)


def test_a_point_needs_a_field() -> None:
    with pytest.raises(LineProtocolError, match="at least one"):
        line("m", {}, {"f": None}, 1)


def test_telemetry_layout_ports_and_device_point() -> None:
    lines = telemetry_lines(_telemetry(), site="north yard")
    assert len(lines) == 11
    port1 = parse_line(lines[1])
    assert port1.measurement == "port"
    assert port1.tags == {"device": "pile-1", "model": "cw-pile-10", "port": "1", "site": "north yard"}
    assert "current" not in port1.fields
    assert port1.fields["flags"] == "current:out_of_range"
    assert "seq" not in port1.fields, "boot/seq ride on the device point only"
    assert port1.ts == 1_750_000_000_123
    device = parse_line(lines[-1])
    assert device.measurement == "pile"
    assert device.fields == {
        "boot": 3.0,
        "seq": 42.0,
        "ambient_temp": 30.0,
        "total_power": 3450.0,
        "flags": "smoke:sensor_fault",
    }
    for text in lines:
        for key, value in parse_line(text).fields.items():
            assert isinstance(value, float) or key == "flags"
        assert "i," not in text, "no integer fields without a state column"
        assert "i " not in text
        assert " " + str(ts_ms(1_750_000_000.123)) in text


def test_blocker_kind_and_event_lines() -> None:
    msg = Telemetry(device="lift-1", boot=1, seq=1, ts=2.0, model="cw-blocker", values={"hold_s": 3.0})
    assert telemetry_lines(msg, "s", kind="blocker") == [
        "blocker,device=lift-1,model=cw-blocker,site=s boot=1,seq=1,hold_s=3.0 2000"
    ]
    ev = Event(
        device="pile-1", boot=2, seq=9, ts=3.5, kind="interlock", port=4, data={"temp": 81.0, "why": "a\nb"}
    )
    (text,) = event_lines(ev, "s", model="cw-pile-10")
    parsed = parse_line(text)
    assert parsed.tags == {
        "device": "pile-1",
        "kind": "interlock",
        "model": "cw-pile-10",
        "port": "4",
        "site": "s",
    }
    assert parsed.fields == {"temp": 81.0, "why": "a\nb", "boot": 2.0, "seq": 9.0}
    assert parsed.ts == 3500


def test_benchmark_line_building() -> None:
    msg = _telemetry()
    n = 3000
    start = time.perf_counter()
    for _ in range(n):
        telemetry_lines(msg, "site-1")
    per_msg = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for i in range(n):
        line("port", {"site": "site-1", "device": "pile-1", "port": str(i % 10)}, {"v": 230.0, "a": 1.5}, i)
    per_generic = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for i in range(n):
        point = Point("port").tag("site", "site-1")  # type: ignore[no-untyped-call]  # untyped library
        point.tag("device", "pile-1").tag("port", str(i % 10)).field("v", 230.0).field("a", 1.5)
        point.time(i, WritePrecision.MS).to_line_protocol()
    per_point_obj = (time.perf_counter() - start) / n
    print(
        f"\nline building: 10-port telemetry message {per_msg * 1e6:.1f} µs "
        f"({per_msg * 1e6 / 11:.2f} µs/point, 11 points); generic line() {per_generic * 1e6:.2f} µs/point; "
        f"influxdb_client Point {per_point_obj * 1e6:.1f} µs/point"
    )
    assert len(telemetry_lines(msg, "site-1")) == 11


EXTREME: list[float | None] = [
    1e16,
    1e-7,
    0.1,
    -0.0,
    1.2345678901234568e17,
    2.5e-5,
    5e-324,
    1.7976931348623157e308,
    -273.15,
]


def test_fast_number_formatting_parses_to_the_same_floats() -> None:
    msg = Telemetry(
        device="pile-1",
        boot=1,
        seq=7,
        ts=2.0,
        model="cw-pile-10",
        ports={"a": EXTREME, "b": [float(i) for i in range(len(EXTREME))]},
        values={"big": 1e22, "small": 2.5e-5},
    )
    lines = telemetry_lines(msg, "s")
    assert [parse_line(text).fields["a"] for text in lines[:-1]] == EXTREME
    assert [parse_line(text).fields["b"] for text in lines[:-1]] == [float(i) for i in range(len(EXTREME))]
    assert parse_line(lines[-1]).fields == {"boot": 1.0, "seq": 7.0, "big": 1e22, "small": 2.5e-5}


def test_nulls_short_columns_and_nan_take_the_per_value_path() -> None:
    msg = Telemetry(
        device="pile-1",
        boot=1,
        seq=7,
        ts=2.0,
        model="cw-pile-10",
        ports={"a": [1.0, None, float("nan")], "b": [4.0, 5.0]},
        values={"x": None, "y": 3.0},
    )
    lines = telemetry_lines(msg, "s")
    assert [parse_line(text).fields.get("a") for text in lines[:2]] == [1.0, None]
    assert [parse_line(text).fields.get("b") for text in lines[:2]] == [4.0, 5.0]
    assert lines[2].endswith(
        " a=nan 2000"
    )  # kept visible: the store rejects it and the spool dead-letters it
    assert parse_line(lines[-1]).fields == {"boot": 1.0, "seq": 7.0, "y": 3.0}


def test_values_are_rounded_to_the_register_resolution_and_state_is_an_integer() -> None:
    profiles = {m: load_profile(PROFILE_DIR / f"{m}.yaml") for m in ("cw-pile-10", "vx-pile-12")}
    res = resolution(profiles["cw-pile-10"])
    assert [res.get(n) for n in ("voltage", "current", "meter", "session_s")] == [1, 3, 2, 0]
    vx = resolution(profiles["vx-pile-12"])
    assert [vx.get("socket_temp"), vx.get("voltage")] == [1, -1]  # scale 0.5 offset -40; float32
    msg = Telemetry(
        device="pile-1",
        boot=1,
        seq=7,
        ts=2.0,
        model="cw-pile-10",
        ports={
            "voltage": [384 * 0.1, None],
            "current": [1234 * 0.001, 0.1 + 0.2],
            "state": [1.0, 3.0],
            "session_s": [17.0, 18.0],
        },
        values={"ambient_temp": 253 * 0.1, "total_power": 3450.0},
    )
    assert 384 * 0.1 == 38.400000000000006  # what the decoder hands over
    lines = telemetry_lines(msg, "s", res=res)
    assert lines[0] == (
        "port,device=pile-1,model=cw-pile-10,port=0,site=s "
        "voltage=38.4,current=1.234,state=1i,session_s=17 2000"
    )
    assert lines[1].endswith(" current=0.3,state=3i,session_s=18 2000")  # the per-value path
    assert lines[2].endswith(" boot=1,seq=7,ambient_temp=25.3,total_power=3450 2000")
    f32 = Telemetry(
        device="v", boot=1, seq=1, ts=2.0, model="vx-pile-12", ports={"voltage": [230.10000610351562]}
    )
    assert " voltage=230.1 " in telemetry_lines(f32, "s", res=vx)[0]

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

import pytest

from chargewatch import ConfigError, load_profile
from chargewatch.profiles import PROFILE_DIR, Order, Point, PointType, find_profile

SHIPPED = sorted(PROFILE_DIR.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_profiles_load(path: Path) -> None:
    profile = load_profile(path)
    assert profile.model == path.stem
    assert profile.points


def test_second_vendor_layout_differs_but_names_agree() -> None:
    a, b = find_profile("cw-pile-10"), find_profile("vx-pile-12")
    assert (a.ports, b.ports) == (10, 12)
    assert {p.name for p in a.port_points} == {p.name for p in b.port_points}
    assert a.point("voltage").type != b.point("voltage").type
    assert b.point("voltage").word_order == "little"


@pytest.mark.parametrize(
    ("kind", "word_order", "byte_order", "value", "scale"),
    [
        ("u16", "big", "big", 229.5, 0.1),
        ("i16", "big", "little", -12.5, 0.5),
        ("u32", "little", "big", 123456.789, 0.001),
        ("i32", "big", "little", -70000, 1.0),
        ("f32", "little", "big", 231.25, 1.0),
        ("f32", "big", "little", -0.125, 1.0),
    ],
)
def test_codec_round_trip(kind: str, word_order: str, byte_order: str, value: float, scale: float) -> None:
    p = Point(
        name="x",
        table="holding",
        address=0,
        type=cast(PointType, kind),
        word_order=cast(Order, word_order),
        byte_order=cast(Order, byte_order),
        scale=scale,
    )
    regs = p.encode(value)
    assert len(regs) == p.width
    assert all(0 <= r <= 0xFFFF for r in regs)
    assert math.isclose(p.decode(regs), value, abs_tol=scale / 2 + 1e-9)


def test_word_order_is_really_swapped() -> None:
    big = Point(name="x", table="holding", address=0, type="u32")
    little = Point(name="x", table="holding", address=0, type="u32", word_order="little")
    assert big.encode(0x12345678) == [0x1234, 0x5678]
    assert little.encode(0x12345678) == [0x5678, 0x1234]
    swapped = Point(name="x", table="holding", address=0, type="u16", byte_order="little")
    assert swapped.encode(0x1234) == [0x3412]


def test_encode_out_of_range_raises() -> None:
    p = Point(name="x", table="holding", address=0, type="u16")
    with pytest.raises(ValueError, match="does not fit u16"):
        p.encode(70000)


def _write(tmp_path: Path, body: str) -> Path:
    f = tmp_path / "bad.yaml"
    f.write_text("model: bad\nvendor: t\nkind: pile\nports: 2\n" + body)
    return f


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("points:\n  - {name: a, table: input, address: 0, colour: red}\n", "unknown field `colour`"),
        (
            "points:\n  - {name: a, table: input, address: 0, type: u32}\n"
            "  - {name: b, table: input, address: 1}\n",
            "overlaps point 'a'",
        ),
        ("points:\n  - {name: a, table: input, address: 0, type: u32, count: 1}\n", "count"),
        ("points:\n  - {name: a, table: input, address: 0, scale: 0}\n", "scale"),
        ("points:\n  - {name: a, table: coil, address: 0, type: u16}\n", "does not fit table coil"),
        ("points:\n  - {name: a, table: input, address: 0, writable: true}\n", "read-only"),
        (
            "points:\n  - {name: a, table: input, address: 0, per_port: true, stride: 1, type: u32}\n",
            "stride 1 is smaller",
        ),
        (
            "points:\n  - {name: a, table: input, address: 0, per_port: true, stride: 2}\n"
            "  - {name: b, table: input, address: 2}\n",
            "port 1",
        ),
        ("points:\n  - {name: a, table: input, address: 0, range: [5, 1]}\n", "range"),
        ("points:\n  - {name: a, table: input, address: 65535, type: f32}\n", "outside"),
        (
            "points:\n  - {name: a, table: input, address: 0}\n  - {name: a, table: input, address: 1}\n",
            "duplicate point name",
        ),
        ("points:\n  - {name: a, table: input, address: 0, invalid: [0x10000]}\n", "does not fit u16"),
        ("points:\n  - {name: a, table: input, address: 0, type: i16, invalid: [-1]}\n", "0..0xffff"),
        ("points:\n  - {name: a, table: input, address: 0, type: u32, invalid: [0x1FFFFFFFF]}\n", "u32"),
        ("points:\n  - {name: a, table: discrete, address: 0, type: bool, invalid: [1]}\n", "bool point"),
        ("points:\n  - {name: a, table: input, address: 0, invalid: [7, 7]}\n", "repeated"),
        ("points:\n  - {name: a, table: input, address: 0, invalid: []}\n", "empty"),
        (
            "points:\n  - {name: a, table: input, address: 0, values: {0: ok, 65535: bad},\n"
            "     invalid: [0xFFFF]}\n",
            "also the code 'bad'",
        ),
    ],
)
def test_bad_profiles_name_file_key_and_fix(tmp_path: Path, body: str, needle: str) -> None:
    f = _write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_profile(f)
    text = str(info.value)
    assert str(f) in text
    assert needle in text
    assert "Fix:" in text


def test_sentinels_are_raw_register_contents_in_the_points_order() -> None:
    vx = find_profile("vx-pile-12").point("meter")  # f32, low word first
    assert vx.invalid == [0xFFFFFFFF]
    assert vx.raw_int([0x1234, 0xABCD]) == 0xABCD1234
    assert vx.raw_words(0xABCD1234) == [0x1234, 0xABCD]
    cw = find_profile("cw-pile-10")
    assert cw.point("socket_temp").invalid == [0xFFFF]
    assert cw.point("meter").raw_words(0xFFFFFFFF) == [0xFFFF, 0xFFFF]

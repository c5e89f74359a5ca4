"""Register images: the fast encoder agrees with the contract codec; map and write rules."""

from __future__ import annotations

import math

import pytest

from chargewatch.profiles import PROFILE_DIR, Point, find_profile
from firmware_sim.registers import (
    IllegalAddressError,
    IllegalValueError,
    ModelContractError,
    PlannedWrite,
    RegisterImage,
    compile_encoder,
)
from tests.sim.serve.fakes import FakeModel

MODELS = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def _samples(point: Point) -> list[float]:
    lo, hi = point.range or (0.0, 600.0)
    return [lo + (hi - lo) * k / 13 for k in range(14)] + [lo, hi]


@pytest.mark.parametrize("model", MODELS)
def test_fast_encoder_matches_point_encode(model: str) -> None:
    checked = 0
    for point in find_profile(model).points:
        encode = compile_encoder(point)
        for value in _samples(point):
            try:
                want = point.encode(value)
            except ValueError:
                continue  # not representable: the fast encoder saturates instead (next test)
            assert encode(value) == want, (point.name, value)
            checked += 1
    assert checked > 50


def test_encoder_saturates_instead_of_raising() -> None:
    u16 = Point(name="x", table="input", address=0, type="u16", scale=0.1)
    i16 = Point(name="y", table="input", address=0, type="i16")
    f32 = Point(name="z", table="holding", address=0, type="f32", word_order="little")
    assert compile_encoder(u16)(1e9) == [0xFFFF]
    assert compile_encoder(u16)(-5) == [0]
    assert compile_encoder(u16)(math.nan) == [0xFFFF]
    assert compile_encoder(i16)(-1e9) == [0x8000]
    assert f32.decode(compile_encoder(f32)(1e300)) == math.inf


def test_a_reading_never_wears_the_no_sensor_code() -> None:
    """cw-pile-10's socket_temp is i16 × 0.1 with 0xFFFF reserved for "no sensor": −0.1 °C
    would encode to it and decode as a missing sensor (every winter pile near 0 °C)."""
    point = find_profile("cw-pile-10").by_name["socket_temp"]
    encode = compile_encoder(point)
    assert point.invalid == [0xFFFF]
    assert point.decode(encode(-0.1)) == 0.0
    assert [point.decode(encode(v)) for v in (-0.2, 0.0, 0.1)] == pytest.approx([-0.2, 0.0, 0.1])


def test_refresh_places_values_and_overrides() -> None:
    profile = find_profile("cw-pile-10")
    model = FakeModel("p", profile, seed=3, start_time=0.0)
    image = RegisterImage("p", profile)
    model.overrides[("socket_temp", 4)] = [0xDEAD]
    image.refresh(model.read_points(), model.raw_overrides())
    volt = profile.point("voltage")
    assert image.read("input", volt.address_of(7), 1) == volt.encode(model.value("voltage", 7))
    assert image.read("input", profile.point("socket_temp").address_of(4), 1) == [0xDEAD]
    assert image.read("coil", 0, 10) == [int(model.value("relay_on", i)) for i in range(10)]


def test_contract_breaches_are_named() -> None:
    profile = find_profile("cw-blocker")
    image = RegisterImage("blk", profile)
    values = dict(FakeModel("blk", profile, 1, 0.0).read_points())
    del values["hold_s"]
    with pytest.raises(ModelContractError, match="hold_s"):
        image.refresh(values, {})
    with pytest.raises(ModelContractError, match="unknown point"):
        image.refresh(FakeModel("blk", profile, 1, 0.0).read_points(), {("nope", None): [1]})


def test_read_rules() -> None:
    image = RegisterImage("vx", find_profile("vx-pile-12"))
    size = len(image.tables["holding"])
    assert image.read("holding", 0, 5) == [0] * 5  # a gap inside the extent reads as 0
    with pytest.raises(IllegalAddressError, match="outside the map"):
        image.read("holding", size - 1, 2)
    with pytest.raises(IllegalAddressError):
        image.read("input", 0, 1)  # vx-pile-12 has no input registers


def test_write_planning() -> None:
    vx = RegisterImage("vx", find_profile("vx-pile-12"))
    assert vx.plan_write("holding", 1010, [85, 0x9C40, 0]) == [
        PlannedWrite("temp_cut_c", None, 85.0),
        PlannedWrite("max_session_s", None, 40000.0),  # u32, low word first
    ]
    assert vx.plan_write("holding", 2040, [0]) == [PlannedWrite("relay_on", 2, 0.0)]
    with pytest.raises(IllegalValueError, match="relay_on"):
        vx.plan_write("holding", 2040, [2])
    with pytest.raises(IllegalAddressError, match="splits"):
        vx.plan_write("holding", 1011, [1])
    with pytest.raises(IllegalAddressError, match="not writable"):
        vx.plan_write("holding", 2001, [1])
    cw = RegisterImage("cw", find_profile("cw-pile-10"))
    assert [w.port for w in cw.plan_write("coil", 0, [1] * 10)] == list(range(10))
    with pytest.raises(IllegalAddressError, match="address 10"):
        cw.plan_write("coil", 5, [0] * 6)  # runs past the relays into a gap

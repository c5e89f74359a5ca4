"""The numpy rounding of whole columns gives exactly what rounding each value does."""

from __future__ import annotations

import random

import pytest

from chargewatch.profiles import PROFILE_DIR, load_profile
from gateway.resolution import F32, resolution, round_one


@pytest.mark.parametrize("model", ["cw-pile-10", "vx-pile-12"])
def test_column_rounding_matches_rounding_each_value(model: str) -> None:
    profile = load_profile(PROFILE_DIR / f"{model}.yaml")
    res = resolution(profile)
    rng = random.Random(7)
    names = tuple(p.name for p in profile.port_points)
    for _ in range(200):
        cols = []
        for name in names:
            places = res.get(name)
            assert places is not None
            step = 10.0 ** -max(places, 0)
            if places == F32:  # float32 registers: any magnitude
                cols.append([rng.uniform(-1, 1) * 10.0 ** rng.randint(-3, 9) for _ in range(profile.ports)])
            else:  # a register value × its scale, as the agent decodes it
                cols.append([rng.randint(0, 65535) * step for _ in range(profile.ports)])
        fast = res.columns(names, cols)
        for name, col, got in zip(names, cols, fast, strict=True):
            places = 0 if name == "state" else res.get(name)
            assert places is not None
            want = [round_one(v, places) for v in col]
            assert got == want, name
            assert all(len(repr(v)) <= 17 for v in got), "no binary noise left"


def test_a_column_with_a_gap_takes_the_per_value_path() -> None:
    res = resolution(load_profile(PROFILE_DIR / "cw-pile-10.yaml"))
    got = res.columns(("voltage", "state"), [[384 * 0.1, None], [1.0, 4.0]])
    assert got == [[38.4, None], [1, 4]]
    assert type(got[1][0]) is int


def test_float32_extremes_never_become_nan() -> None:
    res = resolution(load_profile(PROFILE_DIR / "vx-pile-12.yaml"))
    extremes = [0.0, -0.0, 1e-310, 5e-324, 1.4e-45, 3.4028234663852886e38, -1.7976931348623157e308, 1e22]
    (got,) = res.columns(("power",), [extremes])
    assert got == [round_one(v, F32) for v in extremes]

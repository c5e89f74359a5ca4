"""``params.no_sensor``: a pile serves the profile's "no sensor" sentinel for readings without one."""

from __future__ import annotations

import pytest

from chargewatch.errors import ConfigError
from tests.sim.physics.helpers import quiet_pile


@pytest.mark.parametrize("model", ["cw-pile-10", "vx-pile-12"])
def test_missing_sensors_serve_the_sentinel_every_step(model: str) -> None:
    pile = quiet_pile(model, no_sensor=["socket_temp[3]", "meter[0]"])
    temp, meter = pile.profile.point("socket_temp"), pile.profile.point("meter")
    for _ in range(3):
        pile.step(pile.now + 1.0, 1.0)
        overrides = pile.raw_overrides()
        assert temp.raw_int(overrides[("socket_temp", 3)]) == 0xFFFF
        assert meter.raw_int(overrides[("meter", 0)]) == 0xFFFFFFFF
        assert ("socket_temp", 2) not in overrides


@pytest.mark.parametrize(
    ("names", "needle"),
    [
        (["socket_temp"], "per-port points need [port]"),
        (["socket_temp[10]"], "has 10 ports"),
        (["nope[1]"], "is not a point of cw-pile-10"),
        (["voltage[1]"], "declares no invalid sentinel for it. Fix: add invalid"),
    ],
)
def test_a_bad_no_sensor_entry_is_refused(names: list[str], needle: str) -> None:
    with pytest.raises(ConfigError, match=r"params\.no_sensor") as info:
        quiet_pile("cw-pile-10", no_sensor=names)
    assert needle in str(info.value)
